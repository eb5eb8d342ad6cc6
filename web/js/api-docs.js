// Starts Swagger UI on /api/docs over this server's OpenAPI document. validatorUrl: null keeps it
// from asking swagger.io to validate the document: the page loads nothing from another host.
const root = document.getElementById('swagger-ui');
window.ui = window.SwaggerUIBundle({
  url: root.dataset.specUrl,
  domNode: root,
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: false,
  presets: [window.SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
