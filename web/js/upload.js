// Upload page: drag-and-drop / file picker (resumable tus uploads) and URL
// submissions. Each item shows its upload bar, then its processing bar fed by
// the image's server-sent events, then a link to the viewer.
// Visitors who may not upload get a page without the form; this module then does nothing.
import './header.js';
import { api, el, formatBytes, pageData, partlyViewable } from './common.js';

const { maxUploadBytes } = pageData();
const TYPES = ['image/jpeg', 'image/png', 'image/tiff', 'image/webp'];
const EXTENSIONS = /\.(jpe?g|png|tiff?|webp)$/i;
const STAGES = { queued: 'waiting for a worker', fetch: 'fetching', probe: 'reading the header', tile: 'cutting tiles', upload: 'storing tiles', done: 'done', failed: 'failed' };

const list = document.getElementById('uploads');
const dropzone = document.getElementById('dropzone');
const input = document.getElementById('file-input');
const visibility = document.getElementById('visibility');

/** The server's default for new images, when it says one; public otherwise. */
async function showDefaultVisibility() {
  try {
    const { defaultVisibility } = await api('/api/v1/session');
    if (defaultVisibility && [...visibility.options].some((o) => o.value === defaultVisibility)) visibility.value = defaultVisibility;
  } catch {
    /* keep "public" */
  }
}

function bar(label) {
  const progress = el('progress', { max: '1', value: '0' });
  const text = el('span', { class: 'bar-text', text: '' });
  const row = el('div', { class: 'bar' }, el('span', { class: 'bar-label', text: label }), progress, text);
  return {
    row,
    set(fraction, message) {
      progress.value = Math.max(0, Math.min(1, fraction));
      text.textContent = message ?? `${Math.round(fraction * 100)}%`;
    },
    finish(state) {
      row.dataset.state = state;
    },
  };
}

function item(name, detail) {
  const upload = bar('Upload');
  const processing = bar('Processing');
  const message = el('p', { class: 'item-message', role: 'status' });
  const li = el('li', { class: 'item' }, el('div', { class: 'item-head' }, el('strong', { text: name }), el('span', { class: 'muted', text: detail })), upload.row, processing.row, message);
  list.prepend(li);
  return {
    li,
    upload,
    processing,
    error(text) {
      li.dataset.state = 'failed';
      message.className = 'item-message error';
      message.textContent = text;
    },
    /** Something can be shown already (the preview or the first-view tiles): the viewer opens on it and follows the rest. */
    viewable(id) {
      if (message.querySelector('a')) return;
      message.className = 'item-message';
      message.replaceChildren(el('a', { href: `/v/${id}`, class: 'view-link-early', text: 'Open it now (still processing) →' }));
    },
    done(id) {
      li.dataset.state = 'done';
      message.className = 'item-message';
      message.replaceChildren(el('a', { href: `/v/${id}`, class: 'view-link', text: 'Open the zoomable view →' }));
    },
  };
}

/** Follows the image's status until done or failed. */
function follow(entry, id, eventsUrl) {
  entry.li.dataset.imageId = id;
  const source = new EventSource(eventsUrl);
  source.onmessage = (e) => {
    const image = JSON.parse(e.data);
    const stage = STAGES[image.stage] ?? image.stage;
    entry.processing.set(image.progress, `${stage} ${Math.round(image.progress * 100)}%`);
    if (image.status === 'done') {
      source.close();
      entry.processing.set(1, 'done');
      entry.processing.finish('done');
      entry.done(id);
    } else if (image.status === 'failed') {
      source.close();
      entry.processing.finish('failed');
      entry.error(`Processing failed: ${image.error ? `${image.error.code}: ${image.error.message}` : 'unknown error'}`);
    } else if (partlyViewable(image)) {
      entry.viewable(id);
    }
  };
  // EventSource reconnects by itself after a network error; only a closed stream without a result is worth a word.
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) entry.error('Lost the connection to the status stream; reload to see the result.');
  };
}

function refusal(file) {
  const typeOk = TYPES.includes(file.type) || (file.type === '' && EXTENSIONS.test(file.name));
  if (!typeOk) return `HUGEMAP_ERR_NOT_AN_IMAGE: "${file.name}" is ${file.type || 'of an unknown type'}; send JPEG, PNG, TIFF or WebP`;
  if (file.size === 0) return 'HUGEMAP_ERR_EMPTY_INPUT: the file is empty';
  if (file.size > maxUploadBytes) return `HUGEMAP_ERR_UPLOAD_TOO_LARGE: ${formatBytes(file.size)} is over the limit of ${formatBytes(maxUploadBytes)}`;
  return null;
}

function tusError(err) {
  const res = err.originalResponse;
  if (res) {
    try {
      const body = JSON.parse(res.getBody());
      if (body.error) return `${body.error.code}: ${body.error.message}`;
    } catch {
      /* not ours */
    }
    return `HTTP ${res.getStatus()}: ${res.getBody() || 'upload refused'}`;
  }
  return err.message;
}

async function uploadFile(file) {
  const entry = item(file.name, formatBytes(file.size));
  const refused = refusal(file);
  if (refused) {
    entry.upload.finish('failed');
    entry.error(`Refused: ${refused}`);
    return;
  }
  const upload = new window.tus.Upload(file, {
    endpoint: '/api/v1/uploads',
    // Bounded requests: a proxy's body limit never bites, and each finished chunk is a resume point.
    chunkSize: 64 * 1024 * 1024,
    retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
    removeFingerprintOnSuccess: true,
    metadata: { filename: file.name, filetype: file.type || 'application/octet-stream', visibility: visibility.value },
    onProgress(sent, total) {
      entry.upload.set(sent / total, `${formatBytes(sent)} of ${formatBytes(total)}`);
    },
    onSuccess(payload) {
      entry.upload.set(1, 'uploaded');
      entry.upload.finish('done');
      let body;
      try {
        body = JSON.parse(payload.lastResponse.getBody());
      } catch {
        entry.error('The upload finished but the server did not say which image it became.');
        return;
      }
      follow(entry, body.id, body.links.events);
    },
    onError(err) {
      entry.upload.finish('failed');
      entry.error(`Upload failed: ${tusError(err)}`);
    },
  });
  // A file dropped again after a reload or a crash continues where it stopped.
  const previous = await upload.findPreviousUploads();
  if (previous.length > 0) {
    upload.resumeFromPreviousUpload(previous[0]);
    entry.li.dataset.resumed = 'true';
  }
  upload.start();
}

async function submitUrl(url) {
  const entry = item(url, 'from a URL');
  entry.upload.set(0, 'submitting');
  try {
    const body = await api('/api/v1/images', { method: 'POST', body: { url, visibility: visibility.value } });
    // The worker fetches the bytes; the processing bar shows that as its "fetching" stage.
    entry.upload.set(1, 'submitted');
    entry.upload.finish('done');
    follow(entry, body.id, body.links.events);
  } catch (err) {
    entry.upload.finish('failed');
    entry.error(`Refused: ${err.message}`);
  }
}

function addFiles(files) {
  for (const file of files) uploadFile(file).catch((err) => console.error(err));
}

if (dropzone) {
  showDefaultVisibility();
  dropzone.addEventListener('dragover', (e) => {
    e.preventDefault();
    dropzone.classList.add('over');
  });
  dropzone.addEventListener('dragleave', () => dropzone.classList.remove('over'));
  dropzone.addEventListener('drop', (e) => {
    e.preventDefault();
    dropzone.classList.remove('over');
    addFiles([...(e.dataTransfer?.files ?? [])]);
  });
  dropzone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') input.click();
  });
  input.addEventListener('change', () => {
    addFiles([...input.files]);
    input.value = '';
  });
  document.getElementById('url-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const field = document.getElementById('url-input');
    submitUrl(field.value.trim());
    field.value = '';
  });
}
