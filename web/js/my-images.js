// "My images": the signed-in user's images of every visibility, with a badge
// for each and a control to change it.
import './header.js';
import { api, el, imageTitle, pageData } from './common.js';

const { session } = pageData();
const list = document.getElementById('my-images');
const status = document.getElementById('my-status');
const more = document.getElementById('more');
const LABELS = { public: 'Public', unlisted: 'Unlisted', private: 'Private' };
let cursor = null;

function row(image) {
  const badge = el('span', { class: `badge badge-${image.visibility}`, text: LABELS[image.visibility] ?? image.visibility });
  const select = el('select', { 'aria-label': `Visibility of ${imageTitle(image)}` },
    Object.entries(LABELS).map(([value, label]) => el('option', { value, text: label, selected: value === image.visibility })));
  const state = el('span', { class: 'muted save-state', role: 'status' });
  select.addEventListener('change', async () => {
    state.textContent = 'saving…';
    select.disabled = true;
    try {
      const updated = await api(`/api/v1/images/${image.id}`, { method: 'PATCH', body: { visibility: select.value } });
      badge.className = `badge badge-${updated.visibility}`;
      badge.textContent = LABELS[updated.visibility] ?? updated.visibility;
      state.textContent = 'saved';
    } catch (err) {
      select.value = image.visibility;
      state.textContent = `failed: ${err.message}`;
    } finally {
      select.disabled = false;
    }
  });
  const thumb = image.links.thumbnail ?? image.links.preview;
  return el('li', { class: 'my-image', 'data-id': image.id },
    thumb ? el('img', { src: thumb, alt: '', loading: 'lazy' }) : el('span', { class: 'my-thumb-placeholder', text: image.status }),
    el('a', { href: `/v/${image.id}`, text: imageTitle(image) }),
    badge,
    el('label', { class: 'visibility-control' }, select),
    state);
}

async function load() {
  status.textContent = 'Loading…';
  try {
    const q = new URLSearchParams({ mine: '1', limit: '50' });
    if (cursor) q.set('cursor', cursor);
    const page = await api(`/api/v1/images?${q}`);
    list.append(...page.items.map(row));
    cursor = page.nextCursor ?? null;
    more.hidden = !cursor;
    status.textContent = list.children.length === 0 ? 'You have no images yet.' : '';
  } catch (err) {
    status.textContent = `Could not load your images: ${err.message}`;
  }
}

more.addEventListener('click', load);
if (session.user) load();
