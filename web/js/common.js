// Small helpers shared by the pages. Plain ES modules: no build step.

/** An image still being processed already has something a viewer can show: its preview or its first-view tiles. */
export function partlyViewable(image) {
  return Boolean(image.links.preview || image.tiles?.viewable);
}

/** The JSON the server rendered into <script id="page-data">. */
export function pageData() {
  const el = document.getElementById('page-data');
  return el ? JSON.parse(el.textContent || '{}') : {};
}

/** An API error as "CODE: message" (our bodies are {error: {code, message}}). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(`${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

export async function errorFrom(res) {
  let code = `HTTP_${res.status}`;
  let message = res.statusText || 'request failed';
  try {
    const body = await res.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(res.status, code, message);
}

/** fetch + JSON, throwing ApiError on a non-2xx answer. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const init = { method, signal, headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(path, init);
  if (!res.ok) throw await errorFrom(res);
  return res.status === 204 ? null : res.json();
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}

export function formatBytes(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n < 10 && i > 0 ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export const imageTitle = (image) => image.title || image.source?.filename || `Image ${image.id}`;
