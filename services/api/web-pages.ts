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

/** Who is looking, for the header and for what the page offers (read-only for visitors). */
export interface PageSession {
  user: { name: string; role: string } | null;
  authMode: 'open' | 'required';
  /** May upload (a principal with the write scope). */
  canUpload: boolean;
}

interface PageOptions {
  title: string;
  head?: string;
  body: string;
  /** Page data for the module, read with `JSON.parse(document.getElementById('page-data').textContent)`. */
  data?: Record<string, unknown>;
  styles?: string[];
  /** Classic scripts (UMD builds that set globals), loaded before the module. */
  scripts?: string[];
  module: string;
  bodyClass?: string;
  session: PageSession;
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
<script type="application/json" id="page-data">${jsonForScript({ ...(o.data ?? {}), session: o.session })}</script>
${scripts}
<script type="module" src="${o.module}"></script>
</body>
</html>
`;
}

/**
 * The header of every page: the sections, and who is signed in with sign-out (or a sign-in link).
 * On a narrow screen the links fold into a menu button (web/js/header.js).
 */
function nav(current: string, session: PageSession): string {
  const links: Array<[string, string]> = [
    ...(session.canUpload ? [['/', 'Upload'] as [string, string]] : []),
    ['/gallery', 'Gallery'],
    ...(session.user ? [['/me', 'My images'] as [string, string]] : []),
  ];
  const who = session.user
    ? `<span class="who">${session.authMode === 'open' ? 'Local admin (open mode)' : `Signed in as <strong>${esc(session.user.name)}</strong>`}</span>${
        session.authMode === 'open' ? '' : '<button type="button" id="sign-out" class="link-button">Sign out</button>'
      }`
    : `<a id="sign-in" href="/login${current && current !== '/login' ? `?next=${encodeURIComponent(current)}` : ''}">Sign in</a>`;
  return `<header class="topbar"><a class="brand" href="/">hugemap</a>
<button type="button" id="menu-button" class="menu-button" aria-expanded="false" aria-controls="site-menu">Menu</button>
<div id="site-menu" class="site-menu">
<nav aria-label="Site">${links
    .map(([href, label]) => `<a href="${href}"${href === current ? ' aria-current="page"' : ''}>${label}</a>`)
    .join('')}</nav>
<div class="account">${who}</div>
</div></header>`;
}

export function uploadPage(opts: { maxUploadBytes: number; session: PageSession }): string {
  const { session } = opts;
  const body = session.canUpload
    ? `<h1>Turn a huge picture into a zoomable map</h1>
  <label id="dropzone" class="dropzone" tabindex="0">
    <input id="file-input" type="file" accept="image/jpeg,image/png,image/tiff,image/webp" multiple hidden>
    <strong>Drop images here</strong> or <span class="linkish">choose files</span>
    <small>JPEG, PNG, TIFF or WebP; uploads resume after a dropped connection or a reload</small>
  </label>
  <form id="url-form" class="url-form">
    <input id="url-input" type="url" name="url" placeholder="https://example.org/huge.tif" required aria-label="Image URL">
    <button type="submit">Fetch</button>
  </form>
  <p class="visibility-choice"><label for="visibility">Who can see new images</label>
    <select id="visibility" name="visibility">
      <option value="public">Public: listed in the gallery</option>
      <option value="unlisted">Unlisted: anyone with the link</option>
      <option value="private">Private: only you</option>
    </select></p>
  <ul id="uploads" class="uploads" aria-live="polite"></ul>`
    : `<h1>Turn a huge picture into a zoomable map</h1>
  <p id="sign-in-to-upload"><a href="/login?next=%2F">Sign in</a> to upload images, or look at the <a href="/gallery">gallery</a>.</p>`;
  return page({
    title: 'hugemap: upload',
    module: '/static/js/upload.js',
    scripts: session.canUpload ? ['/vendor/tus/tus.min.js'] : [],
    data: { maxUploadBytes: opts.maxUploadBytes },
    session,
    body: `${nav('/', session)}
<main class="narrow">
  ${body}
</main>`,
  });
}

function imageTitle(image: ImageView): string {
  return image.title ?? image.source.filename ?? `Image ${image.id}`;
}

export function viewerPage(
  image: ImageView,
  opts: { pageUrl: string; manifestUrl: string; thumbnailUrl: string | null; embedded: boolean; editable: boolean; session: PageSession },
): string {
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
  const id = esc(image.id);
  const bar = opts.embedded
    ? ''
    : `<div class="viewer-bar"><h1>${esc(title)}</h1><span class="muted" id="viewer-size"></span>
  ${opts.editable ? '<span class="edit-status"><span id="save-state" class="save-state" role="status" aria-live="polite"></span> <button type="button" id="undo" disabled>Undo</button></span>' : ''}
  <button type="button" id="viewer-menu-button" class="menu-button" aria-expanded="false" aria-controls="viewer-menu" aria-label="Image menu">Image <span aria-hidden="true">▾</span></button>
  <nav id="viewer-menu" class="browse" aria-label="Image">
    <a id="previous" href="#">← Previous</a> <a id="random-image" href="#">Random</a> <a id="next" href="#">Next →</a>
    <a href="/embed/${id}">Embed</a>
    <a id="iiif-manifest" href="${esc(`${opts.manifestUrl}?manifest=${encodeURIComponent(opts.manifestUrl)}`)}" title="The IIIF manifest: open it, or drag this link into a IIIF viewer such as Mirador or the Universal Viewer">Open in IIIF viewer</a>
    <button type="button" id="annotations-button" class="link-button" aria-expanded="false" aria-controls="annotation-panel">Annotations</button>
  </nav></div>`;
  const panel = opts.embedded
    ? ''
    : `<aside id="annotation-panel" class="annotation-panel" aria-labelledby="annotation-panel-title" hidden>
    <div class="panel-head"><h2 id="annotation-panel-title">Annotations</h2>
      <button type="button" id="annotations-close" aria-label="Close the annotation list">×</button></div>
    <ul id="annotation-list" class="annotation-list"></ul>
  </aside>`;
  return page({
    title: `${title} · hugemap`,
    head: `${meta}\n<link rel="canonical" href="${esc(opts.pageUrl)}">`,
    styles: LEAFLET_CSS,
    scripts: LEAFLET_JS,
    module: '/static/js/viewer.js',
    data: { image, embedded: opts.embedded, editable: opts.editable },
    session: opts.session,
    bodyClass: opts.embedded ? 'viewer embedded' : 'viewer',
    body: `${opts.embedded ? '' : nav('', opts.session)}
<main class="viewer-main">
  ${bar}
  <div class="viewer-body">
    <div id="map" class="map" role="application" aria-label="${esc(title)}: zoomable image. Arrow keys pan, plus and minus zoom." aria-describedby="map-help"></div>
    ${panel}
  </div>
  <p id="map-help" class="visually-hidden">Use the arrow keys to pan and the plus and minus keys to zoom.</p>
  <p id="viewer-message" class="message" role="status" hidden></p>
</main>`,
  });
}

export function embedPage(image: ImageView, session: PageSession): string {
  return page({
    title: `Embed ${imageTitle(image)} · hugemap`,
    module: '/static/js/embed.js',
    data: { image },
    session,
    body: `${nav('', session)}
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
  <button id="copy" type="button">Copy</button> <span id="copied" class="muted" role="status"></span>
  <h2>Preview</h2>
  <div id="preview" class="preview"></div>
</main>`,
  });
}

export function galleryPage(session: PageSession): string {
  return page({
    title: 'hugemap: gallery',
    module: '/static/js/gallery.js',
    session,
    body: `${nav('/gallery', session)}
<main>
  <div class="gallery-bar">
    <h1>Gallery</h1>
    <span id="active-tag" class="chip" hidden></span>
    <a id="random" href="#" class="button">Random image</a>
  </div>
  <nav id="tag-cloud" class="tag-cloud" aria-label="Tags"></nav>
  <ul id="grid" class="grid"></ul>
  <p id="gallery-status" class="muted" role="status"></p>
  <div id="sentinel"></div>
</main>`,
  });
}

export function myImagesPage(session: PageSession): string {
  return page({
    title: 'hugemap: my images',
    module: '/static/js/my-images.js',
    session,
    body: `${nav('/me', session)}
<main>
  <h1>My images</h1>
  ${session.user ? '' : '<p><a href="/login?next=%2Fme">Sign in</a> to see your images.</p>'}
  <ul id="my-images" class="my-images"></ul>
  <p id="my-status" class="muted" role="status"></p>
  <button type="button" id="more" hidden>Show more</button>
</main>`,
  });
}

export function loginPage(session: PageSession): string {
  return page({
    title: 'hugemap: sign in',
    module: '/static/js/login.js',
    session,
    body: `${nav('/login', session)}
<main class="narrow">
  <h1>Sign in</h1>
  <form id="login-form" class="login-form">
    <label for="login-name">Name</label>
    <input id="login-name" name="name" autocomplete="username" required>
    <label for="login-password">Password</label>
    <input id="login-password" name="password" type="password" autocomplete="current-password" required>
    <button type="submit">Sign in</button>
    <p id="login-error" class="error" role="alert"></p>
  </form>
</main>`,
  });
}

export function notFoundPage(what: string, session: PageSession): string {
  return page({
    title: 'Not found · hugemap',
    module: '/static/js/header.js',
    session,
    body: `${nav('', session)}<main class="narrow"><h1>Not found</h1><p>${esc(what)}</p>
<p><a href="/gallery">Go to the gallery</a></p></main>`,
  });
}
