// Annotations drawn with Leaflet-Geoman, stored by the API in IMAGE PIXEL
// coordinates. Map coordinates already are pixels (latLng(y, x)), so the
// conversion is only a swap of the two axes.
import { api, debounce, el } from './common.js';
import { ToolsToggleControl } from './controls.js';

const L = window.L;
const SHAPE_TO_TYPE = { Marker: 'marker', Line: 'line', Rectangle: 'rectangle', Circle: 'circle', Polygon: 'polygon' };

const toPoint = (ll) => [round(ll.lng), round(ll.lat)];
const toLatLng = ([x, y]) => L.latLng(y, x);
const round = (v) => Math.round(v * 100) / 100;

/** Geometry in pixels from a drawn layer. */
export function geometryOf(type, layer) {
  switch (type) {
    case 'marker':
      return { type, points: [toPoint(layer.getLatLng())] };
    case 'line':
      return { type, points: layer.getLatLngs().map(toPoint) };
    case 'polygon':
      return { type, points: layer.getLatLngs()[0].map(toPoint) };
    case 'rectangle': {
      // y grows downwards here, so Leaflet's "south" is the top edge.
      const b = layer.getBounds();
      return { type, points: [[round(b.getWest()), round(b.getSouth())], [round(b.getEast()), round(b.getNorth())]] };
    }
    case 'circle':
      return { type, points: [toPoint(layer.getLatLng())], radius: round(layer.getRadius()) };
    default:
      throw new Error(`unknown annotation type ${type}`);
  }
}

/** A Leaflet layer from a stored annotation. */
export function layerOf(a) {
  switch (a.type) {
    case 'marker':
      return L.marker(toLatLng(a.points[0]));
    case 'line':
      return L.polyline(a.points.map(toLatLng));
    case 'polygon':
      return L.polygon(a.points.map(toLatLng));
    case 'rectangle':
      return L.rectangle(L.latLngBounds(a.points.map(toLatLng)));
    case 'circle':
      return L.circle(toLatLng(a.points[0]), { radius: a.radius });
    default:
      return null;
  }
}

const TYPE_LABELS = { marker: 'Marker', line: 'Line', rectangle: 'Rectangle', circle: 'Circle', polygon: 'Polygon' };
const labelOf = (a) => a.title || `(untitled ${TYPE_LABELS[a.type]?.toLowerCase() ?? a.type})`;

/** Tooltips get a text node, never a string: Leaflet puts strings in as HTML, and titles are user text. */
function bindTitle(layer, a) {
  layer.unbindTooltip();
  if (a.title) layer.bindTooltip(el('span', { text: a.title }));
}

function readOnlyPopup(a) {
  return el('div', { class: 'annotation-popup' }, el('h3', { text: a.title || '(untitled)' }), a.comment ? el('p', { text: a.comment }) : null);
}

function editPopup(a, { save, remove }) {
  const title = el('input', { name: 'title', value: a.title, placeholder: 'Title', maxlength: '200', 'aria-label': 'Title' });
  const comment = el('textarea', { name: 'comment', rows: '3', placeholder: 'Comment', maxlength: '5000', 'aria-label': 'Comment' });
  comment.value = a.comment;
  const status = el('span', { class: 'muted', role: 'status' });
  const form = el('form', { class: 'annotation-popup annotation-form' }, title, comment,
    el('div', { class: 'annotation-form-actions' },
      el('button', { type: 'submit', text: 'Save' }),
      ' ',
      el('button', { type: 'button', class: 'danger annotation-popup-delete', text: 'Delete', onclick: () => remove() })),
    status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.textContent = 'saving…';
    try {
      await save({ title: title.value, comment: comment.value });
      status.textContent = 'saved';
    } catch (err) {
      status.textContent = `failed: ${err.message}`;
    }
  });
  return form;
}

/** "Saving… / Saved / Failed" for every write, in one live region. */
function saveStateOf(node) {
  let pending = 0;
  return async function track(promise) {
    pending++;
    if (node) {
      node.dataset.state = 'saving';
      node.textContent = 'Saving…';
    }
    try {
      const value = await promise;
      if (--pending === 0 && node) {
        node.dataset.state = 'saved';
        node.textContent = 'Saved';
      }
      return value;
    } catch (err) {
      pending--;
      if (node) {
        node.dataset.state = 'failed';
        node.textContent = `Failed: ${err.message}`;
      }
      throw err;
    }
  };
}

/**
 * Loads the image's annotations into a layer group and, when editable, wires
 * Geoman's toolbar so that drawing, editing and removing are saved at once.
 * The list (`ui.list`) shows every annotation with show, edit and delete;
 * `ui.undo` undoes the last change; `ui.saveState` says saving/saved/failed.
 * Returns the group (for the show/hide toggle).
 */
export async function setupAnnotations(map, imageId, { editable, ui = {} }) {
  const base = `/api/v1/images/${imageId}/annotations`;
  const group = L.featureGroup();
  const byLayer = new Map();
  const track = saveStateOf(ui.saveState);
  const undoStack = [];

  function pushUndo(label, run) {
    undoStack.push({ label, run });
    if (undoStack.length > 50) undoStack.shift();
    showUndo();
  }
  function showUndo() {
    if (!ui.undo) return;
    const last = undoStack.at(-1);
    ui.undo.disabled = !last;
    ui.undo.textContent = 'Undo';
    ui.undo.title = last ? `Undo: ${last.label}` : 'Nothing to undo';
    ui.undo.setAttribute('aria-label', ui.undo.title);
  }

  function attach(layer, a) {
    byLayer.set(layer, a);
    layer.options.annotationId = a.id;
    layer.options.annotationType = a.type;
    const popup = () =>
      editable
        ? editPopup(byLayer.get(layer), { save: (text) => saveText(layer, text), remove: () => removeWithUndo(layer) })
        : readOnlyPopup(byLayer.get(layer));
    layer.bindPopup(popup, { minWidth: 220 });
    bindTitle(layer, a);
    if (editable) {
      const saveGeometry = debounce(() => {
        const before = byLayer.get(layer);
        if (!before) return;
        const { points, radius } = geometryOf(before.type, layer);
        const previous = before.radius === undefined ? { points: before.points } : { points: before.points, radius: before.radius };
        patch(layer, radius === undefined ? { points } : { points, radius })
          .then(() => pushUndo(`move ${labelOf(before)}`, () => restore(layer, previous)))
          .catch((err) => console.warn(err));
      }, 300);
      layer.on('pm:edit pm:dragend', saveGeometry);
    }
    renderList();
  }

  async function patch(layer, body) {
    const current = byLayer.get(layer);
    if (!current) throw new Error('this annotation was deleted meanwhile');
    const updated = await track(api(`${base}/${current.id}`, { method: 'PATCH', body }));
    byLayer.set(layer, updated);
    bindTitle(layer, updated);
    renderList();
    return updated;
  }

  async function saveText(layer, text) {
    const before = byLayer.get(layer);
    const updated = await patch(layer, text);
    pushUndo(`edit ${labelOf(before)}`, () => patch(layer, { title: before.title, comment: before.comment }));
    return updated;
  }

  /** Puts a shape back as it was stored before (an undone move): a fresh layer from the stored geometry. */
  async function restore(layer, geometry) {
    const updated = await patch(layer, geometry);
    const fresh = layerOf(updated);
    remove(layer);
    attach(fresh, updated);
    group.addLayer(fresh);
  }

  function remove(layer) {
    byLayer.delete(layer);
    group.removeLayer(layer);
    map.removeLayer(layer);
    renderList();
  }

  async function create(body) {
    return track(api(base, { method: 'POST', body }));
  }

  /** Deletes on the server, then from the map; undo creates it again (with a new id). */
  async function removeWithUndo(layer) {
    const a = byLayer.get(layer);
    if (!a) return;
    map.closePopup();
    remove(layer);
    try {
      await track(api(`${base}/${a.id}`, { method: 'DELETE' }));
    } catch (err) {
      attach(layer, a);
      group.addLayer(layer);
      return;
    }
    pushUndo(`delete ${labelOf(a)}`, async () => {
      const { type, points, radius, title, comment } = a;
      const again = await create(radius === undefined ? { type, points, title, comment } : { type, points, radius, title, comment });
      const fresh = layerOf(again);
      attach(fresh, again);
      group.addLayer(fresh);
    });
  }

  function show(layer) {
    if (layer.getBounds) map.fitBounds(layer.getBounds(), { maxZoom: map.getZoom() + 2, padding: [40, 40] });
    else map.setView(layer.getLatLng(), Math.max(map.getZoom(), map.getMinZoom()));
    layer.openPopup();
    // The popup's first field (edit) or the popup itself: keyboard users land where the text is.
    setTimeout(() => (layer.getPopup()?.getElement()?.querySelector('input, h3') ?? null)?.focus?.(), 0);
  }

  function renderList() {
    if (!ui.list) return;
    const items = [...byLayer.entries()];
    ui.list.replaceChildren(
      ...items.map(([layer, a]) =>
        el('li', { 'data-id': a.id },
          el('button', { type: 'button', class: 'link-button annotation-show', text: labelOf(a), title: TYPE_LABELS[a.type], onclick: () => show(layer) }),
          el('span', { class: 'muted annotation-type', text: TYPE_LABELS[a.type] ?? a.type }),
          editable
            ? el('span', { class: 'annotation-actions' },
              el('button', { type: 'button', class: 'annotation-edit', text: 'Edit', 'aria-label': `Edit ${labelOf(a)}`, onclick: () => show(layer) }),
              el('button', { type: 'button', class: 'annotation-delete danger', text: 'Delete', 'aria-label': `Delete ${labelOf(a)}`, onclick: () => removeWithUndo(layer) }))
            : null)),
    );
    if (items.length === 0) ui.list.append(el('li', { class: 'muted', text: editable ? 'None yet: draw one with the tools on the map.' : 'None.' }));
    ui.onCount?.(items.length);
  }

  ui.undo?.addEventListener('click', async () => {
    const last = undoStack.pop();
    showUndo();
    if (!last) return;
    try {
      await last.run();
    } catch (err) {
      console.warn(err);
    }
  });
  showUndo();

  // The list comes in pages (`next` is the cursor of the following one).
  const items = [];
  for (let cursor = null, first = true; first || cursor; first = false) {
    const page = await api(`${base}?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...page.items);
    cursor = page.next ?? null;
  }
  for (const a of items) {
    const layer = layerOf(a);
    if (!layer) continue;
    attach(layer, a);
    group.addLayer(layer);
  }
  renderList();

  if (editable && map.pm) {
    // One shape per click on a tool: on a phone a second tap should not drop a second marker.
    map.pm.setGlobalOptions({ layerGroup: group, snappable: false, continueDrawing: false });
    map.addControl(new ToolsToggleControl());
    map.pm.addControls({
      position: 'topleft',
      drawMarker: true,
      drawPolyline: true,
      drawRectangle: true,
      drawCircle: true,
      drawPolygon: true,
      drawCircleMarker: false,
      drawText: false,
      cutPolygon: false,
      rotateMode: false,
      editMode: true,
      dragMode: true,
      removalMode: true,
    });
    // Geoman names its buttons only by the container's title: give the buttons themselves a name.
    for (const container of map.getContainer().querySelectorAll('.leaflet-pm-toolbar .button-container[title]')) {
      container.querySelector('.leaflet-buttons-control-button')?.setAttribute('aria-label', container.getAttribute('title'));
    }
    map.on('pm:create', async ({ shape, layer }) => {
      const type = SHAPE_TO_TYPE[shape];
      if (!type) return;
      try {
        const created = await create({ ...geometryOf(type, layer), title: '', comment: '' });
        attach(layer, created);
        pushUndo(`draw ${labelOf(created)}`, async () => {
          const current = byLayer.get(layer);
          if (!current) return;
          remove(layer);
          await track(api(`${base}/${current.id}`, { method: 'DELETE' }));
        });
        layer.openPopup(layer instanceof L.Marker ? undefined : layer.getBounds?.().getCenter());
      } catch (err) {
        group.removeLayer(layer);
        map.removeLayer(layer);
      }
    });
    map.on('pm:remove', async ({ layer }) => {
      if (!byLayer.has(layer)) return;
      await removeWithUndo(layer);
    });
  }
  return group;
}
