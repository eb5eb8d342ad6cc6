/**
 * GET /api/v1/images/:id/events: server-sent events. The current status first,
 * then one event per change (Redis pub/sub, so any worker's writes arrive), a
 * comment every 15 s so proxies keep the connection, and the end of the stream
 * once a terminal status (done/failed) has been sent. Each event is an unnamed
 * `message` whose data is the same JSON as GET /api/v1/images/:id; clients
 * should close their EventSource on a terminal status, or it will reconnect.
 */
import type { Request, Response } from 'express';
import { NotFoundError } from '../../../shared/errors.js';
import type { ImageDoc } from '../../../shared/image-status.js';
import type { ApiDeps } from '../deps.js';
import { parseImageId } from '../image-id.js';
import { toImageView } from '../image-view.js';
import { canRead, imageAccess } from '../access/image-access.js';
import type { OpenStreams } from '../open-streams.js';

const HEARTBEAT_MS = 15_000;

export async function streamImageEvents(req: Request, res: Response, deps: ApiDeps, streams: OpenStreams): Promise<void> {
  const id = parseImageId(req.params.id);
  // Subscribe before reading the document so no change can fall between the two.
  const early: ImageDoc[] = [];
  let deliver: (doc: ImageDoc) => void = (doc) => early.push(doc);
  const unsubscribe = await deps.events.subscribe(id, (doc) => deliver(doc));
  let doc: ImageDoc | null;
  try {
    doc = await imageAccess(deps).readable(req.principal, id);
  } catch (err) {
    await unsubscribe();
    throw err;
  }
  if (!doc) {
    await unsubscribe();
    throw new NotFoundError(`image ${id}`);
  }

  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    Connection: 'keep-alive',
    // nginx and similar would otherwise hold events back in a buffer.
    'X-Accel-Buffering': 'no',
  });
  res.write('retry: 5000\n\n');

  let closed = false;
  let lastSent = 0;
  const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), HEARTBEAT_MS);
  const forget = streams.add(() => close());
  function close(): void {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    forget();
    unsubscribe().catch((err: unknown) => deps.logger.warn({ err, id }, 'could not unsubscribe from status events'));
    res.end();
  }
  res.on('close', close);

  deliver = (next) => {
    if (closed) return;
    // Pub/sub and the read above can cross: never step back to an older state.
    const at = new Date(next.updatedAt).getTime();
    if (at < lastSent) return;
    lastSent = at;
    // Made private (or deleted and replaced) while watched: stop telling someone who may no longer see it.
    if (!canRead(req.principal, next)) return close();
    res.write(`data: ${JSON.stringify(toImageView(next, deps.config, req.principal))}\n\n`);
    if (next.status === 'done' || next.status === 'failed') close();
  };
  deliver(doc);
  for (const next of early) deliver(next);
}
