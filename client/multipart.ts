/**
 * A multipart/form-data body streamed from any byte source (file, Buffer,
 * stream), so the client never holds a large image in memory.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

export interface FilePart {
  filename: string;
  stream: AsyncIterable<Uint8Array>;
}

export function multipartBody(fields: Record<string, string>, file: FilePart): { body: ReadableStream<Uint8Array>; contentType: string } {
  const boundary = `hugemap-${randomBytes(12).toString('hex')}`;
  const quote = (s: string) => s.replace(/["\r\n\\]/g, '_');
  async function* parts(): AsyncGenerator<Uint8Array> {
    for (const [name, value] of Object.entries(fields)) {
      yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"\r\n\r\n${value}\r\n`);
    }
    yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${quote(file.filename)}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
    for await (const chunk of file.stream) yield chunk;
    yield Buffer.from(`\r\n--${boundary}--\r\n`);
  }
  return { body: Readable.toWeb(Readable.from(parts())) as ReadableStream<Uint8Array>, contentType: `multipart/form-data; boundary=${boundary}` };
}
