/**
 * A cheap look at an upload's first bytes, so obvious non-images are refused
 * before anything is stored. Only a sniff: the worker decodes the header fully
 * and rejects corrupt or oversized images itself.
 */

/** Enough bytes for the longest signature below (WebP: "RIFF" size "WEBP"). */
export const SNIFF_BYTES = 12;

export type SniffedFormat = 'jpeg' | 'png' | 'tiff' | 'webp';

const startsWith = (head: Buffer, bytes: number[], at = 0) =>
  head.length >= at + bytes.length && bytes.every((b, i) => head[at + i] === b);

const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

export function sniffImageFormat(head: Buffer): SniffedFormat | null {
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  // Classic TIFF (42) and BigTIFF (43), little and big endian.
  if (startsWith(head, [0x49, 0x49, 0x2a, 0x00]) || startsWith(head, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (startsWith(head, [0x49, 0x49, 0x2b, 0x00]) || startsWith(head, [0x4d, 0x4d, 0x00, 0x2b])) return 'tiff';
  if (startsWith(head, ascii('RIFF')) && startsWith(head, ascii('WEBP'), 8)) return 'webp';
  return null;
}
