/** Pure pieces of the API: no servers needed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { newImageDoc } from '../shared/image-status.js';
import { isImageId, newImageId, parseImageId } from '../services/api/image-id.js';
import { imageLinks, toImageView } from '../services/api/image-view.js';
import { OpenStreams } from '../services/api/open-streams.js';
import { SNIFF_BYTES, sniffImageFormat } from '../services/api/sniff-image.js';

test('sniffImageFormat recognises real JPEG, PNG, TIFF and WebP headers and nothing else', async () => {
  const base = sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } });
  const head = (b: Buffer) => b.subarray(0, SNIFF_BYTES);
  assert.equal(sniffImageFormat(head(await base.clone().jpeg().toBuffer())), 'jpeg');
  assert.equal(sniffImageFormat(head(await base.clone().png().toBuffer())), 'png');
  assert.equal(sniffImageFormat(head(await base.clone().tiff().toBuffer())), 'tiff');
  assert.equal(sniffImageFormat(head(await base.clone().webp().toBuffer())), 'webp');
  assert.equal(sniffImageFormat(Buffer.from([0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8])), 'tiff');
  assert.equal(sniffImageFormat(Buffer.from('GIF89a......')), null);
  assert.equal(sniffImageFormat(Buffer.from('RIFF\0\0\0\0WAVE')), null);
  assert.equal(sniffImageFormat(Buffer.from('<svg xmlns=')), null);
  assert.equal(sniffImageFormat(Buffer.from([0xff, 0xd8])), null, 'two bytes are not enough for a JPEG');
  assert.equal(sniffImageFormat(Buffer.alloc(0)), null);
});

test('image ids: 22 URL-safe characters (16 for older images), random for URL jobs, strictly validated', () => {
  const ids = new Set(Array.from({ length: 1000 }, () => newImageId()));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.ok(isImageId(id) && id.length === 22, id);
  assert.ok(isImageId('AAAAAAAAAAAAAAAA'), 'an older 16-character id');
  for (const bad of ['', 'short', 'AAAAAAAAAAAAAAA', 'AAAAAAAAAAAAAAAAA', 'A'.repeat(21), 'A'.repeat(23), '../../originals/', 'AAAAAAAAAAAAAAA/', 'AAAAAAAA AAAAAAA', 'AAAAAAAAAAAAAAAAAAAA/A', 42]) {
    assert.equal(isImageId(bad), false, String(bad));
  }
  assert.throws(() => parseImageId('../x'), { code: 'HUGEMAP_ERR_BAD_REQUEST' });
});

test('links point at the CDN when PUBLIC_BASE_URL is set, at /tiles otherwise; dzi and thumbnail only once done', () => {
  const id = 'LinksTest_012345';
  assert.deepEqual(imageLinks(id, true, { publicBaseUrl: 'https://cdn.example.com/maps' }), {
    self: `/api/v1/images/${id}`,
    events: `/api/v1/images/${id}/events`,
    dzi: `https://cdn.example.com/maps/images/${id}/image.dzi`,
    tiles: `https://cdn.example.com/maps/images/${id}/image_files/`,
    thumbnail: `https://cdn.example.com/maps/images/${id}/thumbnail.jpg`,
    preview: null,
  });
  assert.equal(imageLinks(id, false, { publicBaseUrl: 'https://cdn.example.com/maps' }, true).preview, `https://cdn.example.com/maps/images/${id}/preview.jpg`);
  const pending = imageLinks(id, false, { publicBaseUrl: undefined });
  assert.equal(pending.dzi, null);
  assert.equal(pending.thumbnail, null);
  assert.equal(pending.tiles, `/tiles/${id}/image_files/`);
});

test('the public view hides internals and clamps progress', () => {
  const doc = newImageDoc('ViewTest_0123456', { kind: 'url', url: 'https://example.com/a.tif', contentType: 'image/tiff', bytes: 9 }, 't', new Date(0));
  doc.checkpoint = { originalStored: true, tileRows: { tiler: 'hugemap-tiles/1', rows: [1, 2] } };
  doc.progress = 1.2;
  const view = toImageView(doc, { publicBaseUrl: undefined });
  assert.equal(view.progress, 1);
  assert.deepEqual(view.source, { kind: 'url', url: 'https://example.com/a.tif' });
  assert.equal(view.createdAt, '1970-01-01T00:00:00.000Z');
  const json = JSON.stringify(view);
  for (const hidden of ['checkpoint', '_id', 'tileRows', 'hugemap-tiles', 'contentType']) assert.ok(!json.includes(hidden), hidden);
});

test('OpenStreams closes every registered stream once, and forgets removed ones', () => {
  const streams = new OpenStreams();
  const closed: string[] = [];
  streams.add(() => closed.push('a'));
  const forgetB = streams.add(() => closed.push('b'));
  streams.add(() => closed.push('c'));
  forgetB();
  assert.equal(streams.size, 2);
  streams.closeAll();
  streams.closeAll();
  assert.deepEqual(closed, ['a', 'c']);
  assert.equal(streams.size, 0);
});
