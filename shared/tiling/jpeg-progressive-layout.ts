/**
 * First pass of the progressive -> baseline rewrite: reads every marker
 * segment of the file, skipping the entropy-coded data, and returns the frame,
 * its block geometry and one plan per scan (parameters, Huffman tables and
 * restart interval in force, where its data starts). Everything that can make
 * the rewrite impossible or wrong is found here, before any coefficient is
 * decoded: what we refuse (UntranscodableJpegError) and what is damage
 * (CorruptImageError).
 *
 * Given a writer, it also writes the output's header as it goes: SOI, every
 * APPn and COM segment verbatim and in order (JFIF, EXIF, XMP, ICC chunks,
 * Adobe's colour transform flag), the DQT segments verbatim, and the frame
 * header as SOF0 where the SOF2 was.
 */
import { UntranscodableJpegError } from '../errors.js';
import type { ByteSink } from './buffered-file.js';
import type { ComponentGrid } from './jpeg-coefficient-blocks.js';
import { DecodeTable, type HuffmanSpec } from './jpeg-huffman.js';
import {
  DAC, DHT, DNL, DQT, DRI, EOI, SOF0, SOF2, SOI, SOS,
  isAppOrCom, isRst, isSof, markerName, parseDht, parseDqt, parseDri, parseSof, parseSos, writeSegment,
  type DqtTable, type JpegFrame, type JpegReader, type ScanHeader,
} from './jpeg-markers.js';

/**
 * Each scan costs a read and write of its components' coefficients, so a file
 * of thousands of tiny scans would take hours. Encoders write about 10
 * (libjpeg, mozjpeg up to ~20); a complete progression of every bit of every
 * coefficient of four components needs far fewer than this.
 */
export const MAX_SCANS = 256;

export interface ComponentGeometry {
  h: number;
  v: number;
  /** Blocks that hold image samples: ceil(component width / 8) x ceil(component height / 8). */
  blocksWide: number;
  blocksHigh: number;
  grid: ComponentGrid;
}

export interface FrameGeometry {
  mcusPerLine: number;
  mcusPerColumn: number;
  components: ComponentGeometry[];
}

export function frameGeometry(frame: JpegFrame): FrameGeometry {
  const hmax = Math.max(...frame.components.map((c) => c.h));
  const vmax = Math.max(...frame.components.map((c) => c.v));
  const mcusPerLine = Math.ceil(frame.width / (8 * hmax));
  const mcusPerColumn = Math.ceil(frame.height / (8 * vmax));
  return {
    mcusPerLine,
    mcusPerColumn,
    components: frame.components.map((c) => ({
      h: c.h,
      v: c.v,
      blocksWide: Math.ceil(Math.ceil((frame.width * c.h) / hmax) / 8),
      blocksHigh: Math.ceil(Math.ceil((frame.height * c.v) / vmax) / 8),
      grid: { blocksPerLine: mcusPerLine * c.h, blockRows: mcusPerColumn * c.v, bandRows: c.v },
    })),
  };
}

export interface ScanPlan extends ScanHeader {
  /** Per scan component; only what the scan decodes with (DC first: DC tables, AC scans: AC tables). */
  dcTables: Array<DecodeTable | undefined>;
  acTables: Array<DecodeTable | undefined>;
  restartInterval: number;
  /** File offset of the scan's first entropy-coded byte. */
  dataOffset: number;
}

export interface ProgressiveLayout {
  frame: JpegFrame;
  geometry: FrameGeometry;
  scans: ScanPlan[];
  /** A DQT has 16-bit entries, which baseline (SOF0) does not allow: the output frame must be SOF1. */
  wideQuantTables: boolean;
  /** Output offset of the frame header's 0xFF (when a writer was given). */
  sofOffset: number;
}

const SOF_KINDS: Readonly<Record<number, string>> = {
  0xc0: 'it is baseline, not progressive',
  0xc1: 'it is sequential, not progressive',
  0xc3: 'it is lossless',
  0xc5: 'it is hierarchical', 0xc6: 'it is hierarchical', 0xc7: 'it is hierarchical',
  0xc9: 'it uses arithmetic coding', 0xca: 'it uses arithmetic coding', 0xcb: 'it uses arithmetic coding',
  0xcd: 'it uses arithmetic coding', 0xce: 'it uses arithmetic coding', 0xcf: 'it uses arithmetic coding',
};

export async function readProgressiveLayout(reader: JpegReader, out?: ByteSink): Promise<ProgressiveLayout> {
  const corrupt = (detail: string) => reader.corrupt(detail);
  const refuse = (detail: string) => new UntranscodableJpegError(reader.path, detail);
  const decodeTables = new Map<HuffmanSpec, DecodeTable>();
  const dc: Array<HuffmanSpec | undefined> = [];
  const ac: Array<HuffmanSpec | undefined> = [];
  const dqt: Array<DqtTable | undefined> = [];
  const scans: ScanPlan[] = [];
  let frame: JpegFrame | undefined;
  let coefBits: Int8Array[] = [];
  let restartInterval = 0;
  let wideQuantTables = false;
  let sofOffset = -1;

  function table(specs: Array<HuffmanSpec | undefined>, slot: number, isDc: boolean): DecodeTable {
    const spec = specs[slot];
    if (spec === undefined) throw corrupt(`a scan uses ${isDc ? 'DC' : 'AC'} Huffman table ${slot}, which is not defined`);
    let t = decodeTables.get(spec);
    if (t === undefined) decodeTables.set(spec, (t = new DecodeTable(spec, isDc, corrupt)));
    return t;
  }

  await reader.expectSoi();
  await out?.write(Buffer.from([0xff, SOI]));
  let marker = await reader.nextMarker(false);
  for (;;) {
    if (marker === null) throw corrupt(scans.length === 0 ? 'truncated: the file ends before its first scan' : 'truncated: no EOI marker after the last scan');
    if (marker === EOI) break;
    if (isRst(marker) || marker === 0x01) {
      marker = await reader.nextMarker(false); // stray RSTn and TEM carry nothing: libjpeg ignores them too
      continue;
    }
    if (marker === SOI) throw corrupt('a second SOI marker');
    if (!isSof(marker) && !isAppOrCom(marker) && ![DHT, DQT, DRI, SOS, DAC, DNL].includes(marker)) throw corrupt(`unknown marker ${markerName(marker)}`);
    const data = await reader.segment(marker);

    if (isSof(marker)) {
      if (frame !== undefined) throw corrupt('a second frame header');
      frame = parseSof(marker, data, corrupt);
      if (marker !== SOF2) throw refuse(SOF_KINDS[marker] ?? `frame type ${markerName(marker)}`);
      checkFrame(frame, refuse);
      coefBits = frame.components.map(() => new Int8Array(64).fill(-1));
      if (out) {
        sofOffset = out.position;
        await writeSegment(out, SOF0, data);
      }
    } else if (marker === DHT) {
      for (const t of parseDht(data, corrupt)) (t.tc === 0 ? dc : ac)[t.th] = t.spec;
    } else if (marker === DQT) {
      for (const t of parseDqt(data, corrupt)) {
        if (scans.length === 0) {
          dqt[t.tq] = t;
          wideQuantTables ||= t.precision === 1;
        } else if (!dqt[t.tq]?.bytes.equals(t.bytes)) {
          // libjpeg keeps the table each component had at its first scan; a single
          // copied DQT could not express two versions of one slot.
          throw refuse('a quantization table is redefined between scans');
        }
      }
      if (scans.length === 0 && out) await writeSegment(out, DQT, data);
    } else if (marker === DRI) {
      restartInterval = parseDri(data, corrupt);
    } else if (isAppOrCom(marker)) {
      if (out) await writeSegment(out, marker, data);
    } else if (marker === SOS) {
      if (frame === undefined) throw corrupt('a scan before the frame header');
      const scan = parseSos(data, frame, corrupt);
      checkProgression(scan, corrupt);
      const dcBand = scan.ss === 0;
      for (const c of scan.components) {
        if (dqt[frame.components[c.index]!.tq] === undefined) throw corrupt(`quantization table ${frame.components[c.index]!.tq} is not defined`);
        coefBits[c.index]!.fill(scan.al, scan.ss, scan.se + 1);
      }
      scans.push({
        ...scan,
        dcTables: scan.components.map((c) => (dcBand && scan.ah === 0 ? table(dc, c.td, true) : undefined)),
        acTables: scan.components.map((c) => (dcBand ? undefined : table(ac, c.ta, false))),
        restartInterval,
        dataOffset: reader.position,
      });
      if (scans.length > MAX_SCANS) throw refuse(`it has more than ${MAX_SCANS} scans`);
      marker = await reader.nextMarker(true);
      continue;
    }
    // DAC (arithmetic conditioning) and DNL carry nothing for a Huffman frame of known height.
    marker = await reader.nextMarker(false);
  }

  if (frame === undefined || scans.length === 0) throw corrupt('no image data before the EOI marker');
  for (const c of frame.components) if (dqt[c.tq] === undefined) throw corrupt(`quantization table ${c.tq} is not defined`);
  // libjpeg smooths the blocks of a progressive image whose first AC coefficients are not
  // all known to the last bit (jdcoefct.c, smoothing_ok): a baseline copy would not be.
  if (coefBits.some((bits) => bits.subarray(1, 10).some((b) => b !== 0))) {
    throw refuse('its scans leave low-frequency coefficients unrefined, which libjpeg decodes with block smoothing');
  }
  return { frame, geometry: frameGeometry(frame), scans, wideQuantTables, sofOffset };
}

function checkFrame(frame: JpegFrame, refuse: (detail: string) => Error): void {
  if (frame.precision !== 8) throw refuse(`it has ${frame.precision}-bit samples`);
  if (frame.components.length > 4) throw refuse(`it has ${frame.components.length} components`);
  if (frame.height === 0) throw refuse('its height is given by a DNL marker');
  const blocksPerMcu = frame.components.reduce((n, c) => n + c.h * c.v, 0);
  if (frame.components.length > 1 && blocksPerMcu > 10) throw refuse(`its sampling factors make ${blocksPerMcu} blocks per MCU (baseline allows 10)`);
}

/** The checks libjpeg makes before a progressive scan (jdphuff.c); it refuses the file when one fails. */
function checkProgression(s: ScanHeader, corrupt: (detail: string) => Error): void {
  const valid =
    (s.ss === 0 ? s.se === 0 : s.ss <= s.se && s.se <= 63 && s.components.length === 1) &&
    (s.ah === 0 || s.al === s.ah - 1) &&
    s.al <= 13;
  if (!valid) throw corrupt(`invalid progressive scan parameters Ss=${s.ss} Se=${s.se} Ah=${s.ah} Al=${s.al}`);
}
