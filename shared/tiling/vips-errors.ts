/**
 * libvips reports damage as free-text messages; this maps them onto our stable
 * error codes. Anything unrecognised stays as it is (an internal error, retried
 * by the worker) rather than being blamed on the user's file.
 */
import { CorruptImageError, HugemapError, NotAnImageError } from '../errors.js';
import { firstLine } from './probe.js';

const CORRUPT = [
  /premature end/i,
  /truncated/i,
  /corrupt/i,
  /invalid (?:png|jpeg|tiff|webp|huffman|marker|data|chunk)/i,
  /crc/i,
  /read error/i,
  /out of order/i,
  /unable to (?:read|decode)/i,
  /bogus/i,
  /not enough data/i,
  /libspng|vipsjpeg|tiff2vips|webp2vips|vipspng/i,
];

export function classifyVipsError(inputPath: string, err: unknown): unknown {
  if (err instanceof HugemapError) return err;
  const message = firstLine(err);
  if (/unsupported image format/i.test(message)) return new NotAnImageError(inputPath, undefined, err);
  if (CORRUPT.some((re) => re.test(message))) return new CorruptImageError(inputPath, message, err);
  return err;
}
