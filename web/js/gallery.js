// Gallery: thumbnail grid (cursor pages, loaded as you scroll), tag filter and
// tag cloud, random image, and editing of title and tags, and delete.
import './header.js';
import { api, el, imageTitle, pageData } from './common.js';

const { session } = pageData();
/** Edit and delete only for those who may (the API says per image; older servers did not, then: whoever may upload). */
const canEdit = (img) => img.canEdit ?? Boolean(session?.canUpload);

// ?limit= makes pages small (tests, slow links); the API caps it at 100.
const PAGE = Math.min(100, Math.max(1, Number(new URLSearchParams(location.search).get('limit')) || 24));
const params = new URLSearchParams(location.search);
const activeTag = params.get('tag');
const grid = document.getElementById('grid');
const status = document.getElementById('gallery-status');
const sentinel = document.getElementById('sentinel');
let cursor = null;
let finished = false;
let loading = false;

const tagHref = (tag) => `/gallery?tag=${encodeURIComponent(tag)}`;

function tagChips(tags) {
  return el('ul', { class: 'tags' }, tags.map((t) => el('li', {}, el('a', { class: 'chip', href: tagHref(t), text: t }))));
}

function thumbnailOf(image) {
  // An image still being tiled has no thumbnail yet, but maybe its preview (larger, the same picture).
  const src = image.links.thumbnail ?? image.links.preview;
  if (src) return el('img', { src, alt: imageTitle(image), loading: 'lazy' });
  const label = image.status === 'failed' ? `failed: ${image.error?.code ?? ''}` : `${image.status}…`;
  return el('div', { class: `placeholder ${image.status}`, text: label });
}

function card(image) {
  const li = el('li', { class: 'card', 'data-id': image.id });
  const caption = el('div', { class: 'card-body' });
  const render = (img) => {
    caption.replaceChildren(
      el('a', { class: 'card-title', href: `/v/${img.id}`, text: imageTitle(img) }),
      tagChips(img.tags ?? []),
      canEdit(img)
        ? el('div', { class: 'card-actions' },
          el('button', { type: 'button', class: 'edit', text: 'Edit', 'aria-label': `Edit ${imageTitle(img)}`, onclick: () => edit(img) }),
          el('button', { type: 'button', class: 'delete danger', text: 'Delete', 'aria-label': `Delete ${imageTitle(img)}`, onclick: () => remove(img) }))
        : null,
    );
  };
  const edit = (img) => {
    const title = el('input', { name: 'title', value: img.title ?? '', placeholder: 'Title', 'aria-label': 'Title', maxlength: '200' });
    const tags = el('input', { name: 'tags', value: (img.tags ?? []).join(', '), placeholder: 'tags, comma separated', 'aria-label': 'Tags' });
    const error = el('p', { class: 'error' });
    const form = el('form', { class: 'card-edit' }, title, tags,
      el('div', { class: 'card-actions' }, el('button', { type: 'submit', text: 'Save' }), el('button', { type: 'button', text: 'Cancel', onclick: () => render(img) })),
      error);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = { title: title.value.trim() === '' ? null : title.value, tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean) };
      try {
        render(await api(`/api/v1/images/${img.id}`, { method: 'PATCH', body }));
      } catch (err) {
        error.textContent = err.message;
      }
    });
    caption.replaceChildren(form);
    title.focus();
  };
  const remove = async (img) => {
    if (!confirm(`Delete "${imageTitle(img)}" and all its tiles?`)) return;
    try {
      await api(`/api/v1/images/${img.id}`, { method: 'DELETE' });
      li.remove();
    } catch (err) {
      alert(err.message);
    }
  };
  li.append(el('a', { class: 'card-thumb', href: `/v/${image.id}`, tabindex: '-1' }, thumbnailOf(image)), caption);
  render(image);
  return li;
}

async function loadMore() {
  if (loading || finished) return;
  loading = true;
  status.textContent = 'Loading…';
  try {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) q.set('cursor', cursor);
    if (activeTag) q.set('tag', activeTag);
    const page = await api(`/api/v1/images?${q}`);
    for (const image of page.items) grid.append(card(image));
    cursor = page.nextCursor;
    finished = !cursor;
    status.textContent = finished ? (grid.children.length === 0 ? 'No images yet.' : '') : '';
  } catch (err) {
    status.textContent = `Could not load images: ${err.message}`;
    finished = true;
  } finally {
    loading = false;
  }
  // A tall screen may show the sentinel again at once: keep filling it.
  if (!finished && sentinel.getBoundingClientRect().top < innerHeight + 200) loadMore();
}

async function loadTagCloud() {
  const cloud = document.getElementById('tag-cloud');
  try {
    const { tags } = await api('/api/v1/tags');
    const max = Math.max(1, ...tags.map((t) => t.count));
    cloud.replaceChildren(...tags.map(({ tag, count }) => {
      const a = el('a', { class: 'chip', href: tagHref(tag), text: `${tag} (${count})`, 'data-tag': tag });
      a.style.fontSize = `${0.85 + (0.75 * count) / max}em`;
      if (tag === activeTag) a.setAttribute('aria-current', 'true');
      return a;
    }));
  } catch {
    cloud.hidden = true;
  }
}

if (activeTag) {
  const chip = document.getElementById('active-tag');
  chip.hidden = false;
  chip.append(`tag: ${activeTag} `, el('a', { href: '/gallery', 'aria-label': 'clear the tag filter', text: '×' }));
}
document.getElementById('random').addEventListener('click', async (e) => {
  e.preventDefault();
  try {
    const { id } = await api('/api/v1/images/random');
    location.href = `/v/${id}`;
  } catch (err) {
    status.textContent = err.message;
  }
});
new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && loadMore(), { rootMargin: '400px' }).observe(sentinel);
loadTagCloud();
loadMore();
