// The zoomable viewer: Deep Zoom tiles in Leaflet (pixel CRS), thumbnail
// underlay until tiles arrive, fullscreen, minimap, permalink, annotations.
// An image still being tiled opens as soon as its preview or first tiles are in S3.
import { disclosure } from './header.js';
import { api, debounce, pageData, partlyViewable } from './common.js';
import { deepZoomLayer, imageBounds, loadDzi, maxLevelFor, pixelCrs } from './dz-layer.js';
import { FullscreenControl, LayerToggleControl, MinimapControl } from './controls.js';
import { setupAnnotations } from './annotations.js';

const L = window.L;
const { image, embedded, editable } = pageData();
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

/** The descriptor from the status, for an image still being tiled: its .dzi is stored last. */
function dzFromStatus(img) {
  return { format: img.format, tileSize: img.tileSize, overlap: 0, width: img.width, height: img.height };
}

/** Screen pixels of slack around the image when panning. */
const EDGE_MARGIN_PX = 48;

/**
 * Zooming out stops where the whole image fits; panning stops at its edges
 * with a small margin of screen pixels (so the margin is re-measured in image
 * pixels at every zoom). Both follow the map's size (rotation, fullscreen).
 */
function keepInBounds(map, bounds, maxLevel) {
  const update = () => {
    const size = map.getSize();
    if (size.x === 0 || size.y === 0) return;
    map.setMinZoom(Math.max(0, map.getBoundsZoom(bounds, false)));
    const margin = EDGE_MARGIN_PX * 2 ** (maxLevel - map.getZoom());
    const sw = bounds.getSouthWest(), ne = bounds.getNorthEast();
    map.setMaxBounds(L.latLngBounds([sw.lat - margin, sw.lng - margin], [ne.lat + margin, ne.lng + margin]));
  };
  map.on('zoomend resize', update);
  // Only once the map has a view: the margin depends on its zoom.
  map.whenReady(update);
}

/**
 * Opens the map. A finished image shows every level. One still being tiled
 * shows what is in S3 so far: its preview (the whole image at the first-view
 * level's size, stored before any tile), then, once the status says
 * `tiles.viewable`, the tiles up to `tiles.firstViewLevel`, then, when done,
 * all of them (showProgress). Deeper zooms meanwhile stretch what is there
 * instead of asking for tiles that may not exist yet.
 */
async function showMap(img) {
  const done = img.status === 'done';
  const dz = done ? await loadDzi(img.links.dzi) : dzFromStatus(img);
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
    // Panning stops at the image's edges (plus a small margin, kept in step with the zoom below).
    maxBounds: bounds,
    maxBoundsViscosity: 1,
    keyboardPanDelta: 100,
  });
  window.hugemapMap = map; // for tests and the curious
  keepInBounds(map, bounds, maxLevel);

  // The preview or thumbnail, stretched over the image, shows until the tiles above it load.
  map.createPane('thumbnail').style.zIndex = '150';
  if (!done && img.links.preview) L.imageOverlay(img.links.preview, bounds, { pane: 'thumbnail', interactive: false }).addTo(map);

  const view = viewFromUrl();
  if (view) map.setView(view.center, Math.min(Math.max(view.zoom, map.getMinZoom()), map.getMaxZoom()), { animate: false });
  else map.fitBounds(bounds, { animate: false });

  map.addControl(new FullscreenControl());
  map.on('moveend', debounce(() => writeViewToUrl(map), 400));
  const shown = { map, dz, bounds, maxLevel, tiles: null, complete: false };
  showProgress(shown, img);

  const showAnnotations = params.get('annotations') !== '0';
  if (showAnnotations) {
    try {
      const ui = {
        list: document.getElementById('annotation-list'),
        undo: document.getElementById('undo'),
        saveState: document.getElementById('save-state'),
        onCount: (n) => {
          const button = document.getElementById('annotations-button');
          if (button) button.textContent = `Annotations (${n})`;
        },
      };
      const group = await setupAnnotations(map, img.id, { editable: Boolean(editable), ui });
      group.addTo(map);
      window.hugemapAnnotations = group;
      map.addControl(new LayerToggleControl(group));
    } catch (err) {
      say(`Annotations could not be loaded: ${err.message}`, true);
    }
  }
  document.body.dataset.ready = 'true';
  return shown;
}

/** Brings an open map up to date with the status: tiles once viewable, every level, the thumbnail and the minimap once done. */
function showProgress(shown, img) {
  const { map, bounds, maxLevel } = shown;
  // Tile URLs need the format: take it from a newer status if the one the map opened with had none.
  if (!shown.dz.format && img.format) shown.dz = { ...shown.dz, format: img.format };
  const dz = shown.dz;
  const done = img.status === 'done';
  if (!shown.tiles && (done || img.tiles.viewable)) {
    const nativeMax = done ? maxLevel : Math.min(maxLevel, img.tiles.firstViewLevel ?? maxLevel);
    shown.tiles = deepZoomLayer(img.links.tiles, dz, maxLevel, { maxZoom: maxLevel + 2, maxNativeZoom: nativeMax }).addTo(map);
    window.hugemapTiles = shown.tiles;
  }
  if (done && !shown.complete) {
    shown.complete = true;
    if (shown.tiles.options.maxNativeZoom !== maxLevel) {
      // A new layer, not redraw() on the old one: Leaflet's redraw takes the map's zoom unrounded,
      // so between two levels it would ask for tiles of level "10.75". The old layer stays under
      // the new one until that has loaded, so nothing flickers.
      const firstView = shown.tiles;
      shown.tiles = deepZoomLayer(img.links.tiles, dz, maxLevel, { maxZoom: maxLevel + 2 }).addTo(map);
      window.hugemapTiles = shown.tiles;
      shown.tiles.once('load', () => map.removeLayer(firstView));
    }
    if (img.links.thumbnail) {
      L.imageOverlay(img.links.thumbnail, bounds, { pane: 'thumbnail', interactive: false }).addTo(map);
      if (!embedded) map.addControl(new MinimapControl(img.links.thumbnail, dz));
    }
  }
  document.body.dataset.levels = done ? 'all' : shown.tiles ? 'first-view' : 'preview';
}

const progressText = (img) =>
  img.status === 'queued' ? 'Waiting for a worker…' : `Processing: ${img.stage} ${Math.round(img.progress * 100)}%${partlyViewable(img) ? ' (full detail when done)' : ''}`;

/** Follows an image that is not done yet over the event stream, opening the map as soon as there is something to show. */
function followProcessing(img) {
  let opening = null;
  const update = (next) => {
    if (!opening && (partlyViewable(next) || next.status === 'done')) {
      opening = showMap(next);
      opening.catch((err) => say(`The image could not be shown: ${err.message}`, true));
    } else if (opening) {
      opening.then((shown) => showProgress(shown, next)).catch(() => undefined);
    }
  };
  update(img);
  say(progressText(img));
  const source = new EventSource(img.links.events);
  source.onmessage = (e) => {
    const next = JSON.parse(e.data);
    if (next.status === 'failed') {
      source.close();
      say(`Processing failed: ${next.error?.code}: ${next.error?.message}`, true);
      return;
    }
    update(next);
    if (next.status === 'done') {
      source.close();
      message.hidden = true;
    } else {
      say(progressText(next));
    }
  };
}

if (image.status === 'done') {
  showMap(image).catch((err) => say(`The image could not be shown: ${err.message}`, true));
} else if (image.status === 'failed') {
  say(`Processing failed: ${image.error?.code}: ${image.error?.message}`, true);
} else {
  followProcessing(image);
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

// The image menu folds on narrow screens; the annotation list opens beside the map (below it on a phone).
disclosure(document.getElementById('viewer-menu-button'));
const panel = document.getElementById('annotation-panel');
const panelButton = document.getElementById('annotations-button');
if (panel && panelButton) {
  const setPanel = (open) => {
    panel.hidden = !open;
    panelButton.setAttribute('aria-expanded', String(open));
    // The map's size changed: Leaflet must measure it again.
    window.hugemapMap?.invalidateSize();
  };
  panelButton.addEventListener('click', () => {
    const open = panel.hidden;
    setPanel(open);
    if (open) (panel.querySelector('#annotation-list button') ?? panel.querySelector('button'))?.focus();
  });
  document.getElementById('annotations-close')?.addEventListener('click', () => {
    setPanel(false);
    panelButton.focus();
  });
}
