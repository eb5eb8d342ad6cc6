// Deep Zoom pyramid in Leaflet. Map coordinates are full-resolution image
// pixels: latLng(y, x), y down. Map zoom z is DZ level z, so level maxLevel is
// drawn 1:1 and each level below halves.
const L = window.L;

/** How far (in the level's pixels) a tile's copied edge reaches under its right and bottom neighbours. */
const SEAM_PX = 2;

/** Reads Format, TileSize, Overlap and Size from the descriptor. */
export async function loadDzi(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`descriptor: HTTP ${res.status}`);
  const xml = new DOMParser().parseFromString(await res.text(), 'application/xml');
  const image = xml.getElementsByTagName('Image')[0];
  const size = xml.getElementsByTagName('Size')[0];
  if (!image || !size) throw new Error('descriptor: not a Deep Zoom image');
  return {
    format: image.getAttribute('Format'),
    tileSize: Number(image.getAttribute('TileSize')),
    overlap: Number(image.getAttribute('Overlap') || 0),
    width: Number(size.getAttribute('Width')),
    height: Number(size.getAttribute('Height')),
  };
}

/** The same level count as shared/tiling/pyramid.ts: halve with rounding up until 1. */
export function maxLevelFor(width, height) {
  let level = 0;
  for (let side = Math.max(width, height); side > 1; side = Math.ceil(side / 2)) level++;
  return level;
}

export function levelSize(dz, maxLevel, level) {
  const scale = 2 ** (maxLevel - level);
  return { width: Math.ceil(dz.width / scale), height: Math.ceil(dz.height / scale) };
}

/** CRS.Simple scaled so that zoom maxLevel is one screen pixel per image pixel, y pointing down. */
export function pixelCrs(maxLevel) {
  const s = 1 / 2 ** maxLevel;
  return L.extend({}, L.CRS.Simple, { transformation: new L.Transformation(s, 0, s, 0), infinite: false });
}

export function imageBounds(dz) {
  return L.latLngBounds([0, 0], [dz.height, dz.width]);
}

const DeepZoomLayer = L.TileLayer.extend({
  initialize(tilesBase, dz, maxLevel, options) {
    this._dz = dz;
    this._maxLevel = maxLevel;
    this._base = tilesBase;
    L.TileLayer.prototype.initialize.call(this, '', {
      tileSize: dz.tileSize,
      noWrap: true,
      minZoom: 0,
      minNativeZoom: 0,
      maxNativeZoom: maxLevel,
      bounds: imageBounds(dz),
      ...options,
    });
  },

  getTileUrl(coords) {
    return `${this._base}${coords.z}/${coords.x}_${coords.y}.${this._dz.format}`;
  },

  // Only tiles the pyramid really has: never a request that can only 404, never a wrapped copy.
  _isValidTile(coords) {
    if (coords.z < 0 || coords.z > this._maxLevel || coords.x < 0 || coords.y < 0) return false;
    const { width, height } = levelSize(this._dz, this._maxLevel, coords.z);
    const ts = this._dz.tileSize;
    return coords.x * ts < width && coords.y * ts < height;
  },

  /**
   * Each tile is a canvas: the tile's pixels at their true size, plus SEAM_PX
   * copies of its last column and row where a neighbour follows. At a
   * fractional zoom (and a device pixel ratio of 1.5) tile edges fall between
   * device pixels; browsers blend each edge with what lies below, which shows
   * as thin seams. The copied edge reaches under the neighbour (drawn above it:
   * z-index grows with x and y), so every device pixel is covered by an opaque
   * tile. At the image's own right and bottom edges nothing is added.
   */
  createTile(coords, done) {
    const tile = document.createElement('canvas');
    tile.setAttribute('role', 'presentation');
    const img = new Image();
    tile.complete = false;
    tile.pending = img;
    const url = this.getTileUrl(coords);
    const overlap = this._dz.overlap;
    img.onload = () => {
      const w = img.naturalWidth;
      const h = img.naturalHeight;
      const level = levelSize(this._dz, this._maxLevel, coords.z);
      const ts = this._dz.tileSize;
      const ex = (coords.x + 1) * ts < level.width ? SEAM_PX : 0;
      const ey = (coords.y + 1) * ts < level.height ? SEAM_PX : 0;
      tile.width = w + ex;
      tile.height = h + ey;
      const ctx = tile.getContext('2d');
      ctx.drawImage(img, 0, 0);
      if (ex) ctx.drawImage(img, w - 1, 0, 1, h, w, 0, ex, h);
      if (ey) ctx.drawImage(img, 0, h - 1, w, 1, 0, h, w, ey);
      if (ex && ey) ctx.drawImage(img, w - 1, h - 1, 1, 1, w, h, ex, ey);
      // Drawn 1:1: one canvas pixel per CSS pixel of the level, never stretched.
      tile.style.width = `${w + ex}px`;
      tile.style.height = `${h + ey}px`;
      tile.style.marginLeft = coords.x > 0 ? `${-overlap}px` : '0';
      tile.style.marginTop = coords.y > 0 ? `${-overlap}px` : '0';
      tile.style.zIndex = String(coords.x + coords.y);
      tile.dataset.level = String(coords.z);
      tile.dataset.src = img.src;
      tile.dataset.naturalWidth = String(w);
      tile.dataset.naturalHeight = String(h);
      tile.complete = true;
      tile.pending = null;
      done(null, tile);
    };
    img.onerror = (e) => done(e, tile);
    img.src = url;
    return tile;
  },

  // Leaflet's version aborts <img> tiles; ours are canvases waiting on an Image. As there: tiles of
  // another zoom that are still loading are dropped, loaded ones stay until the new level covers them.
  _abortLoading() {
    for (const key of Object.keys(this._tiles)) {
      const { coords, el } = this._tiles[key];
      if (coords.z === this._tileZoom || el.complete) continue;
      if (el.pending) {
        el.pending.onload = el.pending.onerror = null;
        el.pending.src = L.Util.emptyImageUrl;
      }
      L.DomUtil.remove(el);
      delete this._tiles[key];
      this.fire('tileabort', { tile: el, coords });
    }
  },
});

export function deepZoomLayer(tilesBase, dz, maxLevel, options = {}) {
  return new DeepZoomLayer(tilesBase, dz, maxLevel, options);
}
