/** The tiling library: used by `hugemap tile` and the worker; the API never tiles. */
export * from './pyramid.js';
export * from './probe.js';
export * from './tile-image.js';
export { DEFAULT_QUALITY, defaultFormat, JPEG_ENCODERS } from './encoders.js';
export { THUMBNAIL_SIZE } from './thumbnail.js';
export { DESCRIPTOR, TILES_DIR, THUMBNAIL, MANIFEST } from './output-dir.js';
