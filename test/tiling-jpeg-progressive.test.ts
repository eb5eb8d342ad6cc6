/**
 * Progressive JPEG -> baseline JPEG in bounded memory: the same coefficients,
 * so sharp decodes exactly the same pixels, and the same metadata.
 * Fixtures come from libjpeg-turbo's own tools (Debian: libjpeg-turbo-progs):
 * `jpegtran -progressive | -scans | -restart | -arithmetic`, `cjpeg -sample 2x1`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { PassThrough, Writable } from 'node:stream';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp, { type Sharp } from 'sharp';
import { progressiveToBaseline, progressiveToBaselineStream } from '../shared/tiling/jpeg-progressive.js';
import { jpegEncoderFor, probeImage, tileImage } from '../shared/tiling/index.js';
import { writeIntermediate } from '../shared/tiling/intermediate.js';
import { colourPipeline, sharpInputOptions } from '../shared/tiling/source.js';
import { HugemapError } from '../shared/errors.js';
import { gradient, tempDir } from './helpers/fixtures.js';

const run = promisify(execFile);
const tmp = await tempDir('hugemap-jpeg-progressive-');
after(() => tmp.remove());

await run('jpegtran', ['-version']).catch((err: unknown) => {
  throw new Error(`these tests need jpegtran and cjpeg (Debian: apt-get install libjpeg-turbo-progs): ${String(err)}`);
});

/** Smooth areas, hard edges and noise, so scans hold long zero runs as well as large coefficients. */
function photo(width: number, height: number, channels: 1 | 3 | 4): Buffer {
  const data = Buffer.alloc(width * height * channels);
  let s = 987654321;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        s = (s * 1103515245 + 12345) >>> 0;
        const smooth = ((x * (c + 1) * 7 + y * 3) >> 2) & 255;
        const edge = ((x >> 3) + (y >> 4) + c) % 3 === 0 ? 200 : 0;
        data[(y * width + x) * channels + c] = x % 61 < 20 ? s >>> 24 : (smooth + edge) & 255;
      }
    }
  }
  return data;
}

interface Kind {
  name: string;
  components: number;
  /** Writes a baseline JPEG of this kind. */
  baseline: (width: number, height: number, path: string) => Promise<void>;
}

const rgb = (w: number, h: number): Sharp => sharp(photo(w, h, 3), { raw: { width: w, height: h, channels: 3 } });
const KINDS: Kind[] = [
  { name: '4:2:0', components: 3, baseline: (w, h, p) => rgb(w, h).jpeg({ quality: 92, chromaSubsampling: '4:2:0' }).toFile(p).then(() => undefined) },
  { name: '4:4:4', components: 3, baseline: (w, h, p) => rgb(w, h).jpeg({ quality: 75, chromaSubsampling: '4:4:4' }).toFile(p).then(() => undefined) },
  {
    name: '4:2:2',
    components: 3,
    baseline: async (w, h, p) => {
      const ppm = `${p}.ppm`;
      await writeFile(ppm, Buffer.concat([Buffer.from(`P6\n${w} ${h}\n255\n`), photo(w, h, 3)]));
      await run('cjpeg', ['-sample', '2x1', '-quality', '88', '-outfile', p, ppm]);
    },
  },
  { name: 'grey', components: 1, baseline: (w, h, p) => sharp(photo(w, h, 1), { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w').jpeg({ quality: 95 }).toFile(p).then(() => undefined) },
  {
    name: 'CMYK (Adobe)',
    components: 4,
    baseline: (w, h, p) => sharp(photo(w, h, 4), { raw: { width: w, height: h, channels: 4 } }).toColourspace('cmyk').jpeg({ quality: 90 }).toFile(p).then(() => undefined),
  },
];
// 1x1 and 3x5 are less than one block; 17x9 and 257x129 end mid-block and mid-MCU; 3001x24 is wide and flat.
const SIZES: Array<[number, number]> = [[1, 1], [3, 5], [17, 9], [257, 129], [3001, 24]];

/** jpegtran scan scripts: `components: Ss-Se, Ah, Al;`, written for n components. */
const SCRIPTS: Record<string, (n: number) => string> = {
  // Per-component DC scans with successive approximation, split AC bands, refinement down to Al=0.
  'split bands': (n) => {
    const each = (f: (c: number) => string) => Array.from({ length: n }, (_, c) => f(c)).join('\n');
    return [
      each((c) => `${c}: 0-0, 0, 1;`),
      each((c) => `${c}: 1-2, 0, 2;\n${c}: 3-3, 0, 2;\n${c}: 4-63, 0, 2;`),
      each((c) => `${c}: 1-63, 2, 1;`),
      `${Array.from({ length: n }, (_, c) => c).join(',')}: 0-0, 1, 0;`,
      each((c) => `${c}: 1-63, 1, 0;`),
    ].join('\n');
  },
  // Spectral selection only: no refinement scans at all.
  'spectral only': (n) =>
    [`${Array.from({ length: n }, (_, c) => c).join(',')}: 0-0, 0, 0;`, ...Array.from({ length: n }, (_, c) => `${c}: 1-9, 0, 0;\n${c}: 10-63, 0, 0;`)].join('\n'),
  // Deep successive approximation: long EOB runs and many correction bits.
  'five refinements': (n) => {
    const all = Array.from({ length: n }, (_, c) => c).join(',');
    const lines = [`${all}: 0-0, 0, 3;`];
    for (let c = 0; c < n; c++) lines.push(`${c}: 1-63, 0, 4;`, `${c}: 1-63, 4, 3;`, `${c}: 1-63, 3, 2;`, `${c}: 1-63, 2, 1;`, `${c}: 1-63, 1, 0;`);
    lines.push(`${all}: 0-0, 3, 2;`, `${all}: 0-0, 2, 1;`, `${all}: 0-0, 1, 0;`);
    return lines.join('\n');
  },
};

interface Progression {
  name: string;
  args: (n: number) => Promise<string[]>;
}

async function scriptFile(name: string, n: number): Promise<string> {
  const path = tmp.file(`script-${name.replace(/\W+/g, '-')}-${n}.txt`);
  await writeFile(path, SCRIPTS[name]!(n));
  return path;
}

const PROGRESSIONS: Progression[] = [
  { name: 'libjpeg default', args: async () => ['-progressive'] },
  { name: 'default, restart every MCU row', args: async () => ['-progressive', '-restart', '1'] },
  { name: 'default, restart every 3 MCUs', args: async () => ['-progressive', '-restart', '3B'] },
  ...Object.keys(SCRIPTS).map((script) => ({ name: `script "${script}"`, args: async (n: number) => ['-scans', await scriptFile(script, n)] })),
  { name: 'script "five refinements", restart every 2 MCUs', args: async (n: number) => ['-scans', await scriptFile('five refinements', n), '-restart', '2B'] },
];

async function jpegtran(args: string[], input: string, output: string): Promise<string> {
  await run('jpegtran', ['-copy', 'all', ...args, '-outfile', output, input]);
  return output;
}

async function pixels(path: string): Promise<{ data: Buffer; info: sharp.OutputInfo }> {
  return sharp(path).raw().toBuffer({ resolveWithObject: true });
}

for (const kind of KINDS) {
  test(`${kind.name}: same pixels as sharp decodes from the progressive original, every size and progression`, async () => {
    for (const [width, height] of SIZES) {
      const stem = `${kind.name.replace(/\W+/g, '')}-${width}x${height}`;
      const base = tmp.file(`${stem}-base.jpg`);
      await kind.baseline(width, height, base);
      for (const progression of PROGRESSIONS) {
        const what = `${width}x${height}, ${progression.name}`;
        const input = await jpegtran(await progression.args(kind.components), base, tmp.file(`${stem}-prog.jpg`));
        const output = tmp.file(`${stem}-out.jpg`);
        const inMeta = await sharp(input).metadata();
        assert.deepEqual([inMeta.isProgressive, inMeta.channels], [true, kind.components], `${what}: the fixture is progressive`);

        const result = await progressiveToBaseline(input, output);

        assert.equal((await sharp(output).metadata()).isProgressive, false, `${what}: output is sequential`);
        const [want, got] = [await pixels(input), await pixels(output)];
        assert.deepEqual(got.info, want.info, `${what}: info`);
        assert.ok(got.data.equals(want.data), `${what}: pixels differ`);
        assert.equal(result.outputBytes, (await readFile(output)).length);
        assert.deepEqual([result.frame.width, result.frame.height, result.frame.components.length], [width, height, kind.components]);
      }
    }
  });
}

test('images of many chunks (every scan a few MCU rows behind the one before): the same pixels, to a file and streamed', async () => {
  // 901 x 2500 is 5 to 8 chunks of about a megabyte of coefficients, more than the pipeline holds at once.
  for (const kind of [KINDS[0]!, KINDS[2]!, KINDS[3]!, KINDS[4]!]) {
    const stem = `chunks-${kind.name.replace(/\W+/g, '')}`;
    const base = tmp.file(`${stem}-base.jpg`);
    await kind.baseline(901, 2500, base);
    for (const progression of [PROGRESSIONS[0]!, PROGRESSIONS.at(-1)!]) {
      const what = `${kind.name}, ${progression.name}`;
      const input = await jpegtran(await progression.args(kind.components), base, tmp.file(`${stem}-prog.jpg`));
      const want = await pixels(input);
      const file = tmp.file(`${stem}-file.jpg`);
      const streamed = tmp.file(`${stem}-stream.jpg`);
      await progressiveToBaseline(input, file);
      const result = await progressiveToBaselineStream(input, createWriteStream(streamed));
      for (const [how, output] of [['file', file], ['stream', streamed]] as const) {
        assert.equal((await sharp(output).metadata()).isProgressive, false, `${what}, ${how}: sequential`);
        assert.ok((await pixels(output)).data.equals(want.data), `${what}, ${how}: pixels differ`);
      }
      const [optimal, sampled] = [(await readFile(file)).length, (await readFile(streamed)).length];
      assert.equal(result.outputBytes, sampled);
      assert.ok(sampled < optimal * 1.1, `${what}: tables from the first rows cost ${sampled} against ${optimal} bytes`);
    }
  }
});

test('streamed: a reader that stops early ends the rewrite (no hang), a damaged file rejects as corrupt', async () => {
  const base = tmp.file('stop-base.jpg');
  await KINDS[0]!.baseline(901, 2500, base);
  const input = await jpegtran(['-progressive'], base, tmp.file('stop-prog.jpg'));
  const reader = new PassThrough({ highWaterMark: 1024 });
  let taken = 0;
  reader.on('data', (chunk: Buffer) => {
    taken += chunk.length;
    if (taken > 50_000) reader.destroy();
  });
  await assert.rejects(progressiveToBaselineStream(input, reader), { code: 'ERR_STREAM_PREMATURE_CLOSE' });

  const bytes = await readFile(input);
  const cut = tmp.file('stop-truncated.jpg');
  await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  await assert.rejects(progressiveToBaselineStream(cut, sink), { code: 'HUGEMAP_ERR_CORRUPT_IMAGE' });
});

test("sharp's own progressive JPEGs (mozjpeg scans, optimised scans, trellis) decode to the same pixels", async () => {
  const options: Array<[string, sharp.JpegOptions]> = [
    ['progressive', { quality: 85, progressive: true }],
    ['optimised scans', { quality: 85, progressive: true, optimiseScans: true, chromaSubsampling: '4:4:4' }],
    ['mozjpeg preset', { quality: 80, mozjpeg: true }],
  ];
  for (const [name, jpeg] of options) {
    const input = tmp.file(`sharp-${name.replace(/\W+/g, '-')}.jpg`);
    await rgb(1021, 333).jpeg(jpeg).toFile(input);
    assert.equal((await sharp(input).metadata()).isProgressive, true, `${name}: the fixture is progressive`);
    const output = tmp.file(`sharp-${name.replace(/\W+/g, '-')}-out.jpg`);
    await progressiveToBaseline(input, output);
    const [want, got] = [await pixels(input), await pixels(output)];
    assert.deepEqual(got.info, want.info, name);
    assert.ok(got.data.equals(want.data), `${name}: pixels differ`);
  }
});

test('the output is one baseline scan with the original frame, quantization tables and optimal Huffman tables', async () => {
  const base = tmp.file('structure-base.jpg');
  await KINDS[2]!.baseline(403, 211, base); // 4:2:2
  const input = await jpegtran(['-progressive', '-restart', '2'], base, tmp.file('structure-prog.jpg'));
  const output = tmp.file('structure-out.jpg');
  const result = await progressiveToBaseline(input, output);

  const [inSegs, outSegs] = [segments(await readFile(input)), segments(await readFile(output))];
  const sofIn = inSegs.find((s) => s.marker === 0xc2)!;
  const sofOut = outSegs.find((s) => s.marker >= 0xc0 && s.marker <= 0xc2)!;
  assert.equal(sofOut.marker, 0xc0, 'SOF0');
  assert.ok(sofOut.payload.equals(sofIn.payload), 'same frame header: size, components, sampling factors, table slots');
  assert.deepEqual([sofOut.payload[7], sofOut.payload[10], sofOut.payload[13]], [0x21, 0x11, 0x11], 'the 4:2:2 sampling survives');
  assert.deepEqual(outSegs.filter((s) => s.marker === 0xdb).map((s) => s.payload), inSegs.filter((s) => s.marker === 0xdb).map((s) => s.payload));
  assert.equal(outSegs.filter((s) => s.marker === 0xda).length, 1, 'one scan');
  assert.equal(outSegs.some((s) => s.marker === 0xdd), false, 'no restart interval');
  assert.equal(result.scans, inSegs.filter((s) => s.marker === 0xda).length);
  // jpegtran -optimize codes the same coefficients with libjpeg's optimal tables: the same size to within a few bytes of header.
  const optimized = await jpegtran(['-optimize'], input, tmp.file('structure-jpegtran.jpg'));
  const sizeOf = async (p: string) => (await readFile(p)).length;
  assert.ok(Math.abs((await sizeOf(optimized)) - result.outputBytes) < 64, `${result.outputBytes} bytes vs jpegtran -optimize ${await sizeOf(optimized)}`);
});

test('metadata survives: every APPn and COM segment verbatim and in order, EXIF orientation and ICC profile as sharp reads them', async () => {
  const base = tmp.file('meta-base.jpg');
  await gradient(300, 200).withIccProfile('p3').withMetadata({ orientation: 6 }).jpeg({ quality: 90 }).toFile(base);
  // A comment between the tables, where jpegtran keeps it.
  const withComment = tmp.file('meta-comment.jpg');
  const bytes = await readFile(base);
  await writeFile(withComment, Buffer.concat([bytes.subarray(0, 2), segment(0xfe, Buffer.from('made for a test')), bytes.subarray(2)]));
  const input = await jpegtran(['-progressive'], withComment, tmp.file('meta-prog.jpg'));
  const output = tmp.file('meta-out.jpg');

  await progressiveToBaseline(input, output);

  const keep = (m: number) => (m >= 0xe0 && m <= 0xef) || m === 0xfe;
  const [inMeta, outMeta] = [segments(await readFile(input)), segments(await readFile(output))].map((list) => list.filter((s) => keep(s.marker)));
  for (const m of [0xfe, 0xe0, 0xe1, 0xe2]) assert.ok(inMeta!.some((s) => s.marker === m), `fixture has a 0x${m.toString(16)} segment (COM, JFIF, EXIF, ICC)`);
  assert.deepEqual(outMeta!.map((s) => s.marker), inMeta!.map((s) => s.marker));
  outMeta!.forEach((s, i) => assert.ok(s.payload.equals(inMeta![i]!.payload), `segment ${i} (0x${s.marker.toString(16)}) copied verbatim`));
  const [a, b] = [await sharp(input).metadata(), await sharp(output).metadata()];
  assert.equal(b.orientation, 6);
  assert.ok(b.icc?.equals(a.icc!), 'same ICC profile');
  assert.ok(b.exif?.equals(a.exif!), 'same EXIF');
  assert.equal(b.format, 'jpeg');
});

test('CMYK keeps its Adobe segment (colour transform flag) and decodes to the same CMYK and sRGB values', async () => {
  const base = tmp.file('adobe-base.jpg');
  await KINDS[4]!.baseline(120, 80, base);
  const input = await jpegtran(['-progressive'], base, tmp.file('adobe-prog.jpg'));
  const output = tmp.file('adobe-out.jpg');
  await progressiveToBaseline(input, output);
  const adobe = (list: Segment[]) => list.find((s) => s.marker === 0xee && s.payload.toString('latin1', 0, 5) === 'Adobe')?.payload;
  const want = adobe(segments(await readFile(input)));
  assert.ok(want, 'fixture has an Adobe APP14 segment');
  assert.ok(adobe(segments(await readFile(output)))?.equals(want));
  assert.equal((await sharp(output).metadata()).space, 'cmyk');
  const srgb = async (p: string) => sharp(p).toColourspace('srgb').raw().toBuffer();
  assert.ok((await srgb(output)).equals(await srgb(input)), 'same sRGB pixels through the CMYK profile');
});

test('damaged progressive JPEGs fail with HUGEMAP_ERR_CORRUPT_IMAGE and leave no files', async () => {
  const base = tmp.file('damage-base.jpg');
  await KINDS[0]!.baseline(240, 160, base);
  const good = await readFile(await jpegtran(['-progressive'], base, tmp.file('damage-prog.jpg')));
  const withRst = await readFile(await jpegtran(['-progressive', '-restart', '1'], base, tmp.file('damage-rst.jpg')));
  const segs = segments(good);
  const scans = segs.filter((s) => s.marker === 0xda);
  const without = (marker: number) => Buffer.concat(cut(good, segs.filter((s) => s.marker === marker)));

  // All ones is never a Huffman code: the first scan's first symbol cannot decode.
  const badCode = Buffer.from(good);
  for (let i = 0; i < 16; i += 2) badCode.set([0xff, 0x00], scans[0]!.dataOffset + i);
  // Al = 14 is beyond what T.81 allows.
  const badAl = Buffer.from(good);
  badAl[scans[1]!.dataOffset - 1] = 0x0e;
  // The last scan loses the second half of its data, the file still ends properly.
  const last = scans.at(-1)!;
  const shortScan = Buffer.concat([good.subarray(0, last.dataOffset + Math.floor((good.length - 2 - last.dataOffset) / 2)), Buffer.from([0xff, 0xd9])]);
  // RST markers must count 0..7 in order.
  const rst = withRst.indexOf(Buffer.from([0xff, 0xd1]), segments(withRst).find((s) => s.marker === 0xda)!.dataOffset);
  const badRst = Buffer.from(withRst);
  badRst[rst + 1] = 0xd5;
  const sof = segs.find((s) => s.marker === 0xc2)!;

  const cases: Array<[string, Buffer, string?]> = [
    ['cut at 60%', good.subarray(0, Math.floor(good.length * 0.6))],
    ['cut before EOI', good.subarray(0, good.length - 2)],
    ['cut inside the header', good.subarray(0, 30)],
    ['invalid Huffman code', badCode],
    ['invalid successive approximation', badAl],
    ['a scan ends early', shortScan],
    ['restart markers out of order', badRst, 'expected restart marker RST1, found 0xFFD5'],
    ['no Huffman tables', without(0xc4)],
    ['no quantization tables', without(0xdb)],
    ['scan before the frame header', without(0xc2)],
    ['two frame headers', Buffer.concat([good.subarray(0, sof.offset), good.subarray(sof.offset, sof.end), good.subarray(sof.offset)])],
    ['no scans', Buffer.concat([good.subarray(0, scans[0]!.offset), Buffer.from([0xff, 0xd9])])],
    ['not a JPEG', Buffer.from('hello, not a picture')],
  ];
  for (const [name, data, detail] of cases) {
    const dir = tmp.file(`corrupt-${name.replace(/\W+/g, '-')}`);
    await mkdir(dir);
    const input = join(dir, 'in.jpg');
    await writeFile(input, data);
    await assert.rejects(progressiveToBaseline(input, join(dir, 'out.jpg')), (err: unknown) => {
      assert.ok(err instanceof HugemapError, `${name}: a HugemapError, got ${String(err)}`);
      assert.equal(err.code, 'HUGEMAP_ERR_CORRUPT_IMAGE', `${name}: ${err.message}`);
      assert.ok(err.message.includes(input), `${name}: the message names the file`);
      if (detail) assert.ok(err.message.includes(detail), `${name}: ${err.message}`);
      return true;
    });
    assert.deepEqual(await readdir(dir), ['in.jpg'], `${name}: no output or temp file left`);
  }
});

test('a header claiming 65535x65535 fails on its missing data without writing gigabytes', async () => {
  const base = tmp.file('claim-base.jpg');
  await KINDS[0]!.baseline(64, 64, base);
  const bytes = await readFile(await jpegtran(['-progressive'], base, tmp.file('claim-prog.jpg')));
  const sof = segments(bytes).find((s) => s.marker === 0xc2)!;
  bytes.writeUInt16BE(65535, sof.offset + 5);
  bytes.writeUInt16BE(65535, sof.offset + 7);
  const dir = tmp.file('claim');
  await mkdir(dir);
  await writeFile(join(dir, 'in.jpg'), bytes);
  const before = process.memoryUsage().rss;
  await assert.rejects(progressiveToBaseline(join(dir, 'in.jpg'), join(dir, 'out.jpg')), { code: 'HUGEMAP_ERR_CORRUPT_IMAGE' });
  assert.ok(process.memoryUsage().rss - before < 200 * 1024 * 1024, 'no allocation sized by the header');
  assert.deepEqual(await readdir(dir), ['in.jpg']);
});

test('kinds the rewrite does not handle are refused with HUGEMAP_ERR_NOT_STREAMABLE, no files left', async () => {
  const base = tmp.file('refuse-base.jpg');
  await KINDS[0]!.baseline(96, 64, base);
  const progressive = await readFile(await jpegtran(['-progressive'], base, tmp.file('refuse-prog.jpg')));
  const twelveBit = Buffer.from(progressive);
  twelveBit[segments(twelveBit).find((s) => s.marker === 0xc2)!.offset + 4] = 12;
  const ppm = tmp.file('refuse.ppm');
  await writeFile(ppm, Buffer.concat([Buffer.from('P6\n96 64\n255\n'), photo(96, 64, 3)]));
  // Y sampled 4x4 against 1x1 chroma: 18 blocks per MCU, legal only with non-interleaved scans.
  await writeFile(tmp.file('refuse-scans.txt'), '0: 0-0, 0, 0;\n1: 0-0, 0, 0;\n2: 0-0, 0, 0;\n0: 1-63, 0, 0;\n1: 1-63, 0, 0;\n2: 1-63, 0, 0;');
  await run('cjpeg', ['-sample', '4x4', '-scans', tmp.file('refuse-scans.txt'), '-outfile', tmp.file('refuse-18.jpg'), ppm]);
  // The AC coefficients never get their last bit: libjpeg smooths such images when it decodes them.
  await writeFile(tmp.file('refuse-unrefined.txt'), '0,1,2: 0-0, 0, 0;\n0: 1-63, 0, 1;\n1: 1-63, 0, 1;\n2: 1-63, 0, 1;');

  const cases: Array<[string, Buffer, RegExp]> = [
    ['arithmetic coding', await readFile(await jpegtran(['-arithmetic', '-progressive'], base, tmp.file('refuse-arith.jpg'))), /arithmetic/],
    ['12-bit samples', twelveBit, /12-bit/],
    ['18 blocks per MCU', await readFile(tmp.file('refuse-18.jpg')), /18 blocks per MCU/],
    ['unrefined coefficients', await readFile(await jpegtran(['-scans', tmp.file('refuse-unrefined.txt')], base, tmp.file('refuse-unrefined.jpg'))), /unrefined/],
    ['a baseline file', await readFile(base), /not progressive/],
  ];
  for (const [name, data, message] of cases) {
    const dir = tmp.file(`refuse-${name.replace(/\W+/g, '-')}`);
    await mkdir(dir);
    await writeFile(join(dir, 'in.jpg'), data);
    await assert.rejects(progressiveToBaseline(join(dir, 'in.jpg'), join(dir, 'out.jpg')), (err: unknown) => {
      assert.ok(err instanceof HugemapError, `${name}: a HugemapError, got ${String(err)}`);
      assert.equal(err.code, 'HUGEMAP_ERR_NOT_STREAMABLE', `${name}: ${err.message}`);
      assert.match(err.message, message);
      return true;
    });
    assert.deepEqual(await readdir(dir), ['in.jpg'], `${name}: no output or temp file left`);
  }
});

test('probe: a progressive JPEG the rewrite handles passes any size limit; one it refuses is refused above the limit only', async () => {
  const base = tmp.file('probe-base.jpg');
  await KINDS[0]!.baseline(400, 300, base);
  const progressive = await jpegtran(['-progressive'], base, tmp.file('probe-prog.jpg'));
  const arithmetic = await jpegtran(['-arithmetic', '-progressive'], base, tmp.file('probe-arith.jpg'));
  const tiny = { maxPixels: 1e9, maxBufferedPixels: 1000 };
  const p = await probeImage(progressive, tiny);
  assert.deepEqual([p.progressive, p.needsIntermediate, p.width], [true, true, 400]);
  await assert.rejects(probeImage(arithmetic, tiny), (err: unknown) => {
    assert.ok(err instanceof HugemapError);
    assert.equal(err.code, 'HUGEMAP_ERR_NOT_STREAMABLE');
    assert.match(err.message, /arithmetic coding/);
    return true;
  });
  assert.equal((await probeImage(arithmetic, { maxPixels: 1e9, maxBufferedPixels: 120_000 })).progressive, true, 'at the limit');
});

test('writeIntermediate: a progressive JPEG above maxBufferedPixels is rewritten as baseline, one at or below it is decoded whole, same pixels', async () => {
  const base = tmp.file('intermediate-base.jpg');
  await gradient(640, 480).jpeg({ quality: 90 }).toFile(base);
  const progressive = await jpegtran(['-progressive'], base, tmp.file('intermediate-prog.jpg'));
  const source = { limitInputPixels: 1e9, orientation: 1, flatten: false };
  const want = await sharp(base).raw().toBuffer();
  for (const [maxBufferedPixels, holds] of [[undefined, 'baseline.jpg'], [640 * 480 - 1, 'baseline.jpg'], [640 * 480, 'decoded.tif']] as const) {
    const scratch = tmp.file(`intermediate-${maxBufferedPixels ?? 'default'}`);
    await mkdir(scratch);
    const intermediate = await writeIntermediate(progressive, source, scratch, { maxBufferedPixels });
    const [dir] = await readdir(scratch);
    assert.deepEqual(await readdir(join(scratch, dir!)), [holds], `limit ${maxBufferedPixels}`);
    const got = await colourPipeline(intermediate.open(sharpInputOptions(source)), source).raw().toBuffer();
    assert.ok(got.equals(want), `limit ${maxBufferedPixels}: same pixels as the baseline twin`);
    await intermediate.remove();
    assert.deepEqual(await readdir(scratch), []);
  }
});

async function assertSameTiles(a: string, b: string, levels: number): Promise<void> {
  for (let level = 0; level < levels; level++) {
    const dir = (root: string) => join(root, 'image_files', String(level));
    const names = (await readdir(dir(a))).sort();
    assert.deepEqual((await readdir(dir(b))).sort(), names, `level ${level} tile names`);
    for (const name of names) {
      const [x, y] = [await sharp(join(dir(a), name)).raw().toBuffer(), await sharp(join(dir(b), name)).raw().toBuffer()];
      assert.ok(x.equals(y), `level ${level} tile ${name} has the same pixels`);
    }
  }
}

test('tileImage: a progressive JPEG above the buffered-pixel limit gives the same tiles as its baseline twin', async () => {
  for (const orientation of [1, 6]) {
    const base = tmp.file(`twin-${orientation}.jpg`);
    await gradient(700, 500).withMetadata({ orientation }).jpeg({ quality: 90 }).toFile(base);
    const progressive = await jpegtran(['-progressive', '-restart', '1'], base, tmp.file(`twin-${orientation}-prog.jpg`));
    const limit = { maxPixels: 1e9, maxBufferedPixels: 1000 };
    const scratch = tmp.file(`twin-scratch-${orientation}`);
    await mkdir(scratch);
    const a = await tileImage(base, tmp.file(`tiles-base-${orientation}`), limit);
    const b = await tileImage(progressive, tmp.file(`tiles-prog-${orientation}`), { ...limit, tmpDir: scratch });
    assert.equal(b.source.intermediate, orientation === 1 ? 'progressive-jpeg' : 'exif-orientation');
    assert.deepEqual([b.width, b.height, b.tiles, b.source.orientation], [a.width, a.height, a.tiles, orientation]);
    await assertSameTiles(tmp.file(`tiles-base-${orientation}`), tmp.file(`tiles-prog-${orientation}`), a.levels);
    assert.deepEqual(await readdir(scratch), [], 'intermediate removed');
  }
});

test('tileImage: a plain progressive JPEG above the limit is cut in direct mode from its baseline rewrite: the tiles of its baseline twin byte for byte, the pixels of the sharp path', async () => {
  // 1500 x 700 sRGB with an sRGB profile: edge tiles on every level; the profile must not stop direct mode.
  const base = tmp.file('direct-base.jpg');
  await gradient(1500, 700).withIccProfile('srgb').jpeg({ quality: 90 }).toFile(base);
  const progressive = await jpegtran(['-progressive'], base, tmp.file('direct-prog.jpg'));
  const limit = { maxPixels: 1e9, maxBufferedPixels: 1000 };
  const probe = await probeImage(progressive, limit);
  assert.deepEqual([probe.progressive, probe.needsIntermediate, probe.baselineRewrite], [true, true, true]);
  assert.equal(jpegEncoderFor('direct', progressive, probe, 'jpeg'), 'direct');
  assert.equal(jpegEncoderFor('sharp', progressive, probe, 'jpeg'), 'sharp');
  // At or below the limit libvips decodes it whole into a TIFF: no JPEG for direct mode to read.
  const whole = await probeImage(progressive, { maxPixels: 1e9, maxBufferedPixels: 1500 * 700 });
  assert.equal(whole.baselineRewrite, false);
  assert.equal(jpegEncoderFor('direct', progressive, whole, 'jpeg'), 'sharp');

  const scratch = tmp.file('direct-scratch');
  await mkdir(scratch);
  const twin = await tileImage(base, tmp.file('direct-tiles-base'), { ...limit, jpegEncoder: 'direct' });
  const direct = await tileImage(progressive, tmp.file('direct-tiles-prog'), { ...limit, jpegEncoder: 'direct', tmpDir: scratch });
  const viaSharp = await tileImage(progressive, tmp.file('direct-tiles-prog-sharp'), { ...limit, jpegEncoder: 'sharp', tmpDir: scratch });
  assert.deepEqual([twin.jpegEncoder, direct.jpegEncoder, viaSharp.jpegEncoder], ['direct', 'direct', 'sharp']);
  assert.equal(direct.source.intermediate, 'progressive-jpeg');
  assert.deepEqual([direct.width, direct.height, direct.levels, direct.tiles], [1500, 700, twin.levels, twin.tiles]);
  // Same coefficients, same decoder, same encoder: the very same files as the baseline original's direct cut.
  for (let level = 0; level < twin.levels; level++) {
    const dir = (root: string) => join(tmp.file(root), 'image_files', String(level));
    const names = (await readdir(dir('direct-tiles-base'))).sort();
    assert.deepEqual((await readdir(dir('direct-tiles-prog'))).sort(), names, `level ${level} tile names`);
    for (const name of names) {
      assert.ok((await readFile(join(dir('direct-tiles-prog'), name))).equals(await readFile(join(dir('direct-tiles-base'), name))), `level ${level} tile ${name} byte for byte`);
    }
  }
  assert.equal(direct.bytes, twin.bytes);
  // And the decoded pixels of what the sharp path cuts from the same progressive file.
  await assertSameTiles(tmp.file('direct-tiles-prog-sharp'), tmp.file('direct-tiles-prog'), direct.levels);
  assert.deepEqual(await readdir(scratch), [], 'intermediates removed');
});

test('tileImage: a progressive JPEG cut direct is rewritten into the cut, not into a file: a scratch folder libvips would misread ([...]) does not matter', async () => {
  const base = tmp.file('odd-base.jpg');
  await gradient(600, 300).jpeg({ quality: 90 }).toFile(base);
  const progressive = await jpegtran(['-progressive'], base, tmp.file('odd-prog.jpg'));
  const scratch = tmp.file('odd-scratch[1]');
  await mkdir(scratch);
  const limit = { maxPixels: 1e9, maxBufferedPixels: 1000 };
  assert.equal(jpegEncoderFor('direct', progressive, await probeImage(progressive, limit), 'jpeg'), 'direct');
  const m = await tileImage(progressive, tmp.file('odd-tiles-prog'), { ...limit, jpegEncoder: 'direct', tmpDir: scratch });
  assert.equal(m.jpegEncoder, 'direct');
  assert.deepEqual(await readdir(scratch), [], 'no rewritten file, not even for a moment left behind');
  const a = await tileImage(base, tmp.file('odd-tiles-base'), { ...limit, jpegEncoder: 'direct' });
  await assertSameTiles(tmp.file('odd-tiles-base'), tmp.file('odd-tiles-prog'), a.levels);
});

test('tileImage: a progressive JPEG the rewrite refuses is still tiled below the limit (decoded whole)', async () => {
  const base = tmp.file('fallback.jpg');
  await gradient(300, 200).jpeg({ quality: 90 }).toFile(base);
  const arithmetic = await jpegtran(['-arithmetic', '-progressive'], base, tmp.file('fallback-arith.jpg'));
  const a = await tileImage(base, tmp.file('tiles-fallback-base'));
  const b = await tileImage(arithmetic, tmp.file('tiles-fallback-arith'));
  assert.equal(b.source.intermediate, 'progressive-jpeg');
  await assertSameTiles(tmp.file('tiles-fallback-base'), tmp.file('tiles-fallback-arith'), a.levels);
});

// --- JPEG byte helpers ------------------------------------------------------

interface Segment {
  marker: number;
  /** Offset of the marker's 0xFF, and of the byte after the segment. */
  offset: number;
  end: number;
  payload: Buffer;
  /** For SOS: where the entropy-coded data starts (= end). */
  dataOffset: number;
}

/** Every marker segment of a JPEG, in order, entropy-coded data skipped. */
function segments(jpeg: Buffer): Segment[] {
  const found: Segment[] = [];
  let at = 2;
  while (at + 4 <= jpeg.length) {
    if (jpeg[at] !== 0xff) throw new Error(`no marker at byte ${at}`);
    const marker = jpeg[at + 1]!;
    if (marker === 0xd9) break;
    const length = jpeg.readUInt16BE(at + 2);
    const end = at + 2 + length;
    found.push({ marker, offset: at, end, payload: jpeg.subarray(at + 4, end), dataOffset: end });
    at = end;
    if (marker === 0xda) {
      // Skip entropy-coded data: up to the next 0xFF that is not stuffing or RSTn.
      while (at + 1 < jpeg.length && !(jpeg[at] === 0xff && jpeg[at + 1] !== 0 && (jpeg[at + 1]! < 0xd0 || jpeg[at + 1]! > 0xd7))) at++;
    }
  }
  return found;
}

function segment(marker: number, payload: Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([head, payload]);
}

/** The file's bytes without these segments. */
function cut(jpeg: Buffer, drop: Segment[]): Buffer[] {
  const parts: Buffer[] = [];
  let at = 0;
  for (const s of drop) {
    parts.push(jpeg.subarray(at, s.offset));
    at = s.end;
  }
  parts.push(jpeg.subarray(at));
  return parts;
}
