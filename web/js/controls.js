// Viewer controls: fullscreen and a minimap drawn from the thumbnail.
const L = window.L;

export const FullscreenControl = L.Control.extend({
  options: { position: 'topleft' },
  onAdd(map) {
    const bar = L.DomUtil.create('div', 'leaflet-bar');
    const button = L.DomUtil.create('a', 'fullscreen-button', bar);
    button.href = '#';
    button.role = 'button';
    button.title = 'Fullscreen';
    button.setAttribute('aria-label', 'Fullscreen');
    // An inline SVG: icon fonts and glyphs like U+26F6 are missing on many systems.
    button.innerHTML = '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M1 5V1h4M11 1h4v4M15 11v4h-4M5 15H1v-4" fill="none" stroke="currentColor" stroke-width="2"/></svg>';
    const target = map.getContainer().closest('.viewer-main') ?? map.getContainer();
    L.DomEvent.on(button, 'click', (e) => {
      L.DomEvent.preventDefault(e);
      if (document.fullscreenElement) document.exitFullscreen();
      else target.requestFullscreen?.();
    });
    L.DomEvent.disableClickPropagation(bar);
    this._onChange = () => {
      target.classList.toggle('is-fullscreen', document.fullscreenElement === target);
      map.invalidateSize();
    };
    document.addEventListener('fullscreenchange', this._onChange);
    return bar;
  },
  onRemove() {
    document.removeEventListener('fullscreenchange', this._onChange);
  },
});

/**
 * The whole image (its thumbnail) with a box showing what the map shows;
 * a click or tap on it moves the map there.
 */
export const MinimapControl = L.Control.extend({
  options: { position: 'bottomright', width: 160 },
  initialize(thumbnailUrl, dz, options) {
    L.setOptions(this, options);
    this._thumb = thumbnailUrl;
    this._dz = dz;
  },
  onAdd(map) {
    const { width: w, height: h } = this._dz;
    const box = L.DomUtil.create('div', 'minimap');
    const width = this.options.width;
    const height = Math.max(20, Math.round((width * h) / w));
    box.style.width = `${width}px`;
    box.style.height = `${height}px`;
    const img = L.DomUtil.create('img', '', box);
    img.src = this._thumb;
    img.alt = '';
    const view = L.DomUtil.create('div', 'minimap-view', box);
    const update = () => {
      const b = map.getBounds();
      const x0 = Math.max(0, b.getWest()), x1 = Math.min(w, b.getEast());
      // y grows downwards: Leaflet's "south" is the top edge.
      const y0 = Math.max(0, b.getSouth()), y1 = Math.min(h, b.getNorth());
      view.style.left = `${(x0 / w) * width}px`;
      view.style.top = `${(y0 / h) * height}px`;
      view.style.width = `${Math.max(2, ((x1 - x0) / w) * width)}px`;
      view.style.height = `${Math.max(2, ((y1 - y0) / h) * height)}px`;
    };
    map.on('move zoom resize', update);
    this._update = update;
    map.whenReady(update);
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    L.DomEvent.on(box, 'click', (e) => {
      // From inside the border (clientLeft/Top), where the thumbnail and the view box are drawn.
      const r = box.getBoundingClientRect();
      map.panTo([((e.clientY - r.top - box.clientTop) / height) * h, ((e.clientX - r.left - box.clientLeft) / width) * w]);
    });
    return box;
  },
  onRemove(map) {
    map.off('move zoom resize', this._update);
  },
});

/** A checkbox that shows or hides a layer group (the annotations). */
export const LayerToggleControl = L.Control.extend({
  options: { position: 'topright', label: 'Annotations' },
  initialize(layer, options) {
    L.setOptions(this, options);
    this._layer = layer;
  },
  onAdd(map) {
    const box = L.DomUtil.create('label', 'leaflet-bar layer-toggle');
    const input = L.DomUtil.create('input', '', box);
    input.type = 'checkbox';
    input.id = 'toggle-annotations';
    input.checked = map.hasLayer(this._layer);
    box.append(` ${this.options.label}`);
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.on(input, 'change', () => {
      if (input.checked) map.addLayer(this._layer);
      else map.removeLayer(this._layer);
    });
    return box;
  },
});

/**
 * On a narrow screen the drawing tools fold behind this one button, so that
 * they do not cover the image; wider screens show them all and hide it (CSS).
 */
export const ToolsToggleControl = L.Control.extend({
  options: { position: 'topleft' },
  onAdd(map) {
    const bar = L.DomUtil.create('div', 'leaflet-bar tools-toggle');
    const button = L.DomUtil.create('a', 'tools-toggle-button', bar);
    button.href = '#';
    button.setAttribute('role', 'button');
    button.setAttribute('aria-label', 'Annotation tools');
    button.setAttribute('aria-expanded', 'false');
    button.title = 'Annotation tools';
    button.innerHTML = '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M2 14l1-4 8-8 3 3-8 8zM10 3l3 3" fill="none" stroke="currentColor" stroke-width="1.6"/></svg>';
    L.DomEvent.disableClickPropagation(bar);
    L.DomEvent.on(button, 'click', (e) => {
      L.DomEvent.preventDefault(e);
      const open = map.getContainer().classList.toggle('tools-open');
      button.setAttribute('aria-expanded', String(open));
      if (!open) map.pm?.disableDraw();
    });
    return bar;
  },
});
