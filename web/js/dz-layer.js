// Deep Zoom pyramid in Leaflet. Map coordinates are full-resolution image
// pixels: latLng(y, x), y down. Map zoom z is DZ level z, so level maxLevel is
// drawn 1:1 and each level below halves.
const L = window.L;

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

  createTile(coords, done) {
    const tile = document.createElement('img');
    tile.alt = '';
    tile.setAttribute('role', 'presentation');
    const overlap = this._dz.overlap;
    L.DomEvent.on(tile, 'load', () => {
      // Edge tiles are smaller than tileSize (and overlap adds a border): draw them at their true size, never stretched.
      tile.style.width = `${tile.naturalWidth}px`;
      tile.style.height = `${tile.naturalHeight}px`;
      tile.style.marginLeft = coords.x > 0 ? `${-overlap}px` : '0';
      tile.style.marginTop = coords.y > 0 ? `${-overlap}px` : '0';
      tile.dataset.level = String(coords.z);
      done(null, tile);
    });
    L.DomEvent.on(tile, 'error', (e) => done(e, tile));
    tile.src = this.getTileUrl(coords);
    return tile;
  },
});

export function deepZoomLayer(tilesBase, dz, maxLevel, options = {}) {
  return new DeepZoomLayer(tilesBase, dz, maxLevel, options);
}
