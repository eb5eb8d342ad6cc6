/**
 * Hard inputs through the service (upload -> API -> queue -> worker -> S3): a progressive JPEG
 * above MAX_BUFFERED_PIXELS (its baseline rewrite streamed into the cut), an Adam7 PNG
 * (deinterlaced into the cut) and a CMYK JPEG (converted inside dzsave's pipeline) all end `done`
 * with the pyramid `hugemap tile`'s library cuts from the same file in direct mode, byte for byte
 * (the direct and sharp encoders write different bytes, so this also shows the worker cut direct).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { useTestServers } from './helpers/servers.js';
import { startImageService, upload, type ImageService } from './helpers/image-service.js';
import { tempDir } from './helpers/fixtures.js';
import { waitFor } from './helpers/test-config.js';
import { assertPyramidInS3, noisy } from './helpers/split-fixtures.js';
import { tileImage } from '../shared/tiling/tile-image.js';

/** Low enough that the test's progressive JPEG is rewritten as baseline, as a huge one would be. */
const MAX_BUFFERED_PIXELS = 100_000;
let svc: ImageService;
const tmp = await tempDir('hugemap-hard-inputs-');

before(async () => {
  svc = await startImageService(await useTestServers(), 'hard', { MAX_BUFFERED_PIXELS: String(MAX_BUFFERED_PIXELS) });
});

after(async () => {
  await svc?.close();
  await tmp.remove();
});

async function assertCutDirectAsLocally(name: string, body: Buffer, filename: string): Promise<void> {
  const input = tmp.file(filename);
  await writeFile(input, body);
  const local = tmp.file(`${name}-local`);
  const manifest = await tileImage(input, local, { maxPixels: 1e9, maxBufferedPixels: MAX_BUFFERED_PIXELS, tmpDir: tmp.path });
  assert.equal(manifest.jpegEncoder, 'direct', `${name}: cut direct locally`);

  const res = await upload(svc.url, body, filename);
  assert.equal(res.status, 202);
  const id: string = res.json.id;
  const doc = await waitFor(`image ${id}`, async () => {
    const d = await svc.store.get(id);
    return d && (d.status === 'done' || d.status === 'failed') ? d : undefined;
  }, 120_000, 50);
  assert.equal(doc.status, 'done', JSON.stringify(doc.error));
  assert.equal(await assertPyramidInS3(svc.s3, id, local), manifest.tiles);
}

test('a progressive JPEG above MAX_BUFFERED_PIXELS: its rewrite streamed into the cut, the pyramid of hugemap tile', async () => {
  const body = await noisy(1301, 937, 3).jpeg({ quality: 88, progressive: true }).toBuffer();
  assert.equal((await sharp(body).metadata()).isProgressive, true);
  await assertCutDirectAsLocally('progressive', body, 'progressive.jpg');
});

test('an Adam7 PNG: deinterlaced into the cut, the pyramid of hugemap tile', async () => {
  const body = await noisy(1027, 771, 3).png({ progressive: true }).toBuffer();
  assert.equal((await sharp(body).metadata()).isProgressive, true, 'Adam7');
  await assertCutDirectAsLocally('adam7', body, 'adam7.png');
});

test('a CMYK JPEG: converted to sRGB inside the cut, the pyramid of hugemap tile', async () => {
  const body = await noisy(1099, 803, 3).toColourspace('cmyk').jpeg({ quality: 90 }).toBuffer();
  assert.equal((await sharp(body).metadata()).space, 'cmyk');
  await assertCutDirectAsLocally('cmyk', body, 'cmyk.jpg');
});
