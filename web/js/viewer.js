// The zoomable viewer: Deep Zoom tiles in Leaflet (pixel CRS), thumbnail
// underlay until tiles arrive, fullscreen, minimap, permalink, annotations.
import { api, debounce, pageData } from './common.js';
import { deepZoomLayer, imageBounds, loadDzi, maxLevelFor, pixelCrs } from './dz-layer.js';
import { FullscreenControl, LayerToggleControl, MinimapControl } from './controls.js';
import { setupAnnotations } from './annotations.js';

const L = window.L;
const { image, embedded } = pageData();
const params = new URLSearchParams(location.search);
const message = document.getElementById('viewer-message');

function say(text, isError = false) {
  message.hidden = false;
  message.textContent = text;
  message.classList.toggle('error', isError);
}

/** Permalink: x/y are the centre in image pixels, z the map zoom (= DZ level). */
function viewFromUrl() {
  const x = Number(params.get('x')), y = Number(params.get('y')), z = Number(params.get('z'));
  if (!params.has('x') || !params.has('y') || !params.has('z') || ![x, y, z].every(Number.isFinite)) return null;
  return { center: L.latLng(y, x), zoom: z };
}

function writeViewToUrl(map) {
  const c = map.getCenter();
  const url = new URL(location.href);
  url.searchParams.set('x', String(Math.round(c.lng)));
  url.searchParams.set('y', String(Math.round(c.lat)));
  url.searchParams.set('z', String(Math.round(map.getZoom() * 100) / 100));
  // replaceState, never pushState: panning must not fill the back button's history.
  history.replaceState(history.state, '', url);
}

async function showMap() {
  const dz = await loadDzi(image.links.dzi);
  const maxLevel = maxLevelFor(dz.width, dz.height);
  const bounds = imageBounds(dz);
  const sizeLabel = document.getElementById('viewer-size');
  if (sizeLabel) sizeLabel.textContent = `${dz.width} × ${dz.height} px`;

  const map = L.map('map', {
    crs: pixelCrs(maxLevel),
    minZoom: 0,
    maxZoom: maxLevel + 2,
    zoomSnap: 0.25,
    zoomDelta: 0.5,
    wheelPxPerZoomLevel: 120,
    attributionControl: false,
    maxBounds: bounds.pad(0.5),
    maxBoundsViscosity: 0.8,
  });
  window.hugemapMap = map; // for tests and the curious

  // The thumbnail, stretched over the image, shows until the tiles above it load.
  map.createPane('thumbnail').style.zIndex = '150';
  if (image.links.thumbnail) L.imageOverlay(image.links.thumbnail, bounds, { pane: 'thumbnail', interactive: false }).addTo(map);
  const tiles = deepZoomLayer(image.links.tiles, dz, maxLevel, { maxZoom: maxLevel + 2 }).addTo(map);
  window.hugemapTiles = tiles;

  const fitZoom = map.getBoundsZoom(bounds);
  map.setMinZoom(Math.max(0, Math.floor(fitZoom) - 1));
  const view = viewFromUrl();
  if (view) map.setView(view.center, Math.min(Math.max(view.zoom, map.getMinZoom()), map.getMaxZoom()), { animate: false });
  else map.fitBounds(bounds, { animate: false });

  map.addControl(new FullscreenControl());
  if (!embedded && image.links.thumbnail) map.addControl(new MinimapControl(image.links.thumbnail, dz));
  map.on('moveend', debounce(() => writeViewToUrl(map), 400));

  const showAnnotations = params.get('annotations') !== '0';
  if (showAnnotations) {
    try {
      const group = await setupAnnotations(map, image.id, { editable: !embedded });
      group.addTo(map);
      window.hugemapAnnotations = group;
      map.addControl(new LayerToggleControl(group));
    } catch (err) {
      say(`Annotations could not be loaded: ${err.message}`, true);
    }
  }
  document.body.dataset.ready = 'true';
}

function waitUntilDone() {
  say(image.status === 'queued' ? 'Waiting for a worker…' : `Processing: ${image.stage} ${Math.round(image.progress * 100)}%`);
  const source = new EventSource(image.links.events);
  source.onmessage = (e) => {
    const next = JSON.parse(e.data);
    if (next.status === 'done') {
      source.close();
      location.reload();
    } else if (next.status === 'failed') {
      source.close();
      say(`Processing failed: ${next.error?.code}: ${next.error?.message}`, true);
    } else {
      say(`Processing: ${next.stage} ${Math.round(next.progress * 100)}%`);
    }
  };
}

if (image.status === 'done') {
  showMap().catch((err) => say(`The image could not be shown: ${err.message}`, true));
} else if (image.status === 'failed') {
  say(`Processing failed: ${image.error?.code}: ${image.error?.message}`, true);
} else {
  waitUntilDone();
}

// Browsing: the images before and after this one (newest first), or any.
for (const [linkId, path] of [['previous', `/api/v1/images/${image.id}/previous`], ['next', `/api/v1/images/${image.id}/next`], ['random-image', '/api/v1/images/random']]) {
  document.getElementById(linkId)?.addEventListener('click', async (e) => {
    e.preventDefault();
    try {
      const { id } = await api(path);
      if (id) location.href = `/v/${id}`;
      else say(linkId === 'next' ? 'This is the last image.' : 'This is the first image.');
    } catch (err) {
      say(err.message, true);
    }
  });
}
