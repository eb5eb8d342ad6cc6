// Annotations drawn with Leaflet-Geoman, stored by the API in IMAGE PIXEL
// coordinates. Map coordinates already are pixels (latLng(y, x)), so the
// conversion is only a swap of the two axes.
import { api, debounce, el } from './common.js';

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

function readOnlyPopup(a) {
  return el('div', { class: 'annotation-popup' }, el('h3', { text: a.title || '(untitled)' }), a.comment ? el('p', { text: a.comment }) : null);
}

function editPopup(a, save) {
  const title = el('input', { name: 'title', value: a.title, placeholder: 'Title', maxlength: '200', 'aria-label': 'Title' });
  const comment = el('textarea', { name: 'comment', rows: '3', placeholder: 'Comment', maxlength: '5000', 'aria-label': 'Comment' });
  comment.value = a.comment;
  const status = el('span', { class: 'muted' });
  const form = el('form', { class: 'annotation-popup annotation-form' }, title, comment, el('button', { type: 'submit', text: 'Save' }), status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.textContent = 'saving…';
    try {
      await save({ title: title.value, comment: comment.value });
      status.textContent = 'saved';
    } catch (err) {
      status.textContent = err.message;
    }
  });
  return form;
}

/**
 * Loads the image's annotations into a layer group and, when editable, wires
 * Geoman's toolbar so that drawing, editing and removing are saved at once.
 * Returns the group (for the show/hide toggle).
 */
export async function setupAnnotations(map, imageId, { editable }) {
  const base = `/api/v1/images/${imageId}/annotations`;
  const group = L.featureGroup();
  const byLayer = new Map();

  function attach(layer, a) {
    byLayer.set(layer, a);
    layer.options.annotationId = a.id;
    layer.options.annotationType = a.type;
    const popup = () => (editable ? editPopup(byLayer.get(layer), (text) => patch(layer, text)) : readOnlyPopup(byLayer.get(layer)));
    layer.bindPopup(popup, { minWidth: 220 });
    if (a.title) layer.bindTooltip(a.title);
    if (editable) {
      const saveGeometry = debounce(() => {
        const { type } = byLayer.get(layer);
        const { points, radius } = geometryOf(type, layer);
        patch(layer, radius === undefined ? { points } : { points, radius }).catch((err) => console.error(err));
      }, 300);
      layer.on('pm:edit pm:dragend', saveGeometry);
    }
  }

  async function patch(layer, body) {
    const current = byLayer.get(layer);
    const updated = await api(`${base}/${current.id}`, { method: 'PATCH', body });
    byLayer.set(layer, updated);
    layer.unbindTooltip();
    if (updated.title) layer.bindTooltip(updated.title);
    return updated;
  }

  const { items } = await api(base);
  for (const a of items) {
    const layer = layerOf(a);
    if (!layer) continue;
    attach(layer, a);
    group.addLayer(layer);
  }

  if (editable && map.pm) {
    map.pm.setGlobalOptions({ layerGroup: group, snappable: false });
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
    map.on('pm:create', async ({ shape, layer }) => {
      const type = SHAPE_TO_TYPE[shape];
      if (!type) return;
      try {
        const created = await api(base, { method: 'POST', body: { ...geometryOf(type, layer), title: '', comment: '' } });
        attach(layer, created);
        layer.openPopup(layer instanceof L.Marker ? undefined : layer.getBounds?.().getCenter());
      } catch (err) {
        group.removeLayer(layer);
        map.removeLayer(layer);
        alert(`Could not save the annotation: ${err.message}`);
      }
    });
    map.on('pm:remove', async ({ layer }) => {
      const a = byLayer.get(layer);
      if (!a) return;
      byLayer.delete(layer);
      await api(`${base}/${a.id}`, { method: 'DELETE' }).catch((err) => alert(`Could not delete: ${err.message}`));
    });
  }
  return group;
}
