/**
 * The HTML of the web app's pages. Only the <head> and a skeleton are rendered
 * here (the viewer's Open Graph tags must be in the HTML for link previews);
 * the rest is plain ES modules under web/js. Libraries come from npm, served
 * by the app under /vendor: no CDN, so it works on an intranet.
 */
import type { ImageView } from './image-view.js';

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** JSON inside <script>: no "</script>" or "<!--" can end it early. */
const jsonForScript = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

interface PageOptions {
  title: string;
  head?: string;
  body: string;
  /** Page data for the module, read with `JSON.parse(document.getElementById('page-data').textContent)`. */
  data?: unknown;
  styles?: string[];
  /** Classic scripts (UMD builds that set globals), loaded before the module. */
  scripts?: string[];
  module: string;
  bodyClass?: string;
}

const LEAFLET_CSS = ['/vendor/leaflet/leaflet.css', '/vendor/geoman/leaflet-geoman.css'];
const LEAFLET_JS = ['/vendor/leaflet/leaflet.js', '/vendor/geoman/leaflet-geoman.min.js'];

function page(o: PageOptions): string {
  const styles = [...(o.styles ?? []), '/static/css/app.css'].map((h) => `<link rel="stylesheet" href="${h}">`).join('\n');
  const scripts = (o.scripts ?? []).map((s) => `<script src="${s}"></script>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<title>${esc(o.title)}</title>
<link rel="icon" href="data:,">
${o.head ?? ''}
${styles}
</head>
<body${o.bodyClass ? ` class="${o.bodyClass}"` : ''}>
${o.body}
<script type="application/json" id="page-data">${jsonForScript(o.data ?? {})}</script>
${scripts}
<script type="module" src="${o.module}"></script>
</body>
</html>
`;
}

const nav = (current: string) => `<header class="topbar"><a class="brand" href="/">hugemap</a>
<nav>${[['/', 'Upload'], ['/gallery', 'Gallery']]
  .map(([href, label]) => `<a href="${href}"${href === current ? ' aria-current="page"' : ''}>${label}</a>`)
  .join('')}</nav></header>`;

export function uploadPage(opts: { maxUploadBytes: number }): string {
  return page({
    title: 'hugemap: upload',
    module: '/static/js/upload.js',
    scripts: ['/vendor/tus/tus.min.js'],
    data: opts,
    body: `${nav('/')}
<main class="narrow">
  <h1>Turn a huge picture into a zoomable map</h1>
  <label id="dropzone" class="dropzone" tabindex="0">
    <input id="file-input" type="file" accept="image/jpeg,image/png,image/tiff,image/webp" multiple hidden>
    <strong>Drop images here</strong> or <span class="linkish">choose files</span>
    <small>JPEG, PNG, TIFF or WebP; uploads resume after a dropped connection or a reload</small>
  </label>
  <form id="url-form" class="url-form">
    <input id="url-input" type="url" name="url" placeholder="https://example.org/huge.tif" required aria-label="Image URL">
    <button type="submit">Fetch</button>
  </form>
  <ul id="uploads" class="uploads" aria-live="polite"></ul>
</main>`,
  });
}

function imageTitle(image: ImageView): string {
  return image.title ?? image.source.filename ?? `Image ${image.id}`;
}

export function viewerPage(image: ImageView, opts: { pageUrl: string; thumbnailUrl: string | null; embedded: boolean }): string {
  const title = imageTitle(image);
  const description = image.width && image.height ? `${image.width} × ${image.height} pixels, zoomable` : 'A zoomable image';
  const meta = [
    ['og:type', 'website'],
    ['og:title', title],
    ['og:description', description],
    ['og:url', opts.pageUrl],
    ...(opts.thumbnailUrl ? [['og:image', opts.thumbnailUrl]] : []),
  ]
    .map(([p, c]) => `<meta property="${p}" content="${esc(c!)}">`)
    .concat(
      [
        ['twitter:card', opts.thumbnailUrl ? 'summary_large_image' : 'summary'],
        ['twitter:title', title],
        ['twitter:description', description],
        ...(opts.thumbnailUrl ? [['twitter:image', opts.thumbnailUrl]] : []),
      ].map(([n, c]) => `<meta name="${n}" content="${esc(c!)}">`),
    )
    .join('\n');
  return page({
    title: `${title} · hugemap`,
    head: `${meta}\n<link rel="canonical" href="${esc(opts.pageUrl)}">`,
    styles: LEAFLET_CSS,
    scripts: LEAFLET_JS,
    module: '/static/js/viewer.js',
    data: { image, embedded: opts.embedded },
    bodyClass: opts.embedded ? 'viewer embedded' : 'viewer',
    body: `${opts.embedded ? '' : nav('')}
<main class="viewer-main">
  ${opts.embedded ? '' : `<div class="viewer-bar"><h1>${esc(title)}</h1><span class="muted" id="viewer-size"></span>
  <nav class="browse"><a id="previous" href="#">← Previous</a> <a id="random-image" href="#">Random</a> <a id="next" href="#">Next →</a>
  <a href="/embed/${esc(image.id)}">Embed</a></nav></div>`}
  <div id="map" class="map" role="application" aria-label="${esc(title)}"></div>
  <p id="viewer-message" class="message" hidden></p>
</main>`,
  });
}

export function embedPage(image: ImageView): string {
  return page({
    title: `Embed ${imageTitle(image)} · hugemap`,
    module: '/static/js/embed.js',
    data: { image },
    body: `${nav('')}
<main class="narrow">
  <h1>Embed <a href="/v/${esc(image.id)}">${esc(imageTitle(image))}</a></h1>
  <fieldset class="sizes"><legend>Size</legend>
    ${['1024x768', '800x400', '480x320', '320x480']
      .map((s, i) => `<label><input type="radio" name="size" value="${s}"${i === 0 ? ' checked' : ''}> ${s.replace('x', ' × ')}</label>`)
      .join('\n    ')}
    <label><input type="radio" name="size" value="custom"> custom
      <input id="custom-width" type="number" min="100" max="4000" value="640" aria-label="width"> ×
      <input id="custom-height" type="number" min="100" max="4000" value="480" aria-label="height"></label>
  </fieldset>
  <label class="check"><input id="hide-annotations" type="checkbox"> hide annotations</label>
  <label for="snippet">Paste this into your page</label>
  <textarea id="snippet" class="snippet" rows="3" readonly></textarea>
  <button id="copy" type="button">Copy</button> <span id="copied" class="muted" hidden>copied</span>
  <h2>Preview</h2>
  <div id="preview" class="preview"></div>
</main>`,
  });
}

export function galleryPage(): string {
  return page({
    title: 'hugemap: gallery',
    module: '/static/js/gallery.js',
    body: `${nav('/gallery')}
<main>
  <div class="gallery-bar">
    <h1>Gallery</h1>
    <span id="active-tag" class="chip" hidden></span>
    <a id="random" href="#" class="button">Random image</a>
  </div>
  <div id="tag-cloud" class="tag-cloud" aria-label="Tags"></div>
  <ul id="grid" class="grid"></ul>
  <p id="gallery-status" class="muted"></p>
  <div id="sentinel" aria-hidden="true"></div>
</main>`,
  });
}

export function notFoundPage(what: string): string {
  return page({
    title: 'Not found · hugemap',
    module: '/static/js/common.js',
    body: `${nav('')}<main class="narrow"><h1>Not found</h1><p>${esc(what)}</p></main>`,
  });
}
