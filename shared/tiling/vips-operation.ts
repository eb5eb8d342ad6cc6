/**
 * One libvips operation through the FFI (vips-ffi.ts), built and released the way libvips wants:
 * new, input attached, arguments set, built through the operation cache; on any failure its outputs
 * unreffed and libvips' own message thrown. The modules that chain operations (dzsave-direct.ts,
 * preview.ts, vips-raw-rows.ts, vips-input.ts's crop) each wrote this dance out before; a missed
 * unref there is memory held until the process ends. (A loader is built in place, vips-input.ts.)
 */
import type { ObjectKind, Pointer, VipsFfi } from './vips-ffi.js';

/** How an operation gets its input image: `attach(op)` sets it (OpenedImage.attach, or outputOf). */
export type AttachInput = (operation: Pointer) => void;

/** The `out` image of a built operation as the next one's `in`. */
export function outputOf(vips: VipsFfi, built: Pointer): AttachInput {
  return (operation) => vips.copyImageProperty(built, 'out', operation, 'in');
}

export interface OperationSettings {
  /** Set by name as strings (a file name, a profile name: values `options` could not quote). */
  args?: Record<string, string>;
  /** libvips' option string, `name=value,...`. */
  options?: string;
  /** Objects set by name (a target, a source): the operation takes its own reference. */
  objects?: Record<string, { kind: ObjectKind; value: Pointer }>;
}

/**
 * Builds `name` on `input`; the built operation, which the caller frees with releaseOperation once
 * nothing reads its output any more. Throws libvips' message (or "`failure`") when it cannot be built.
 */
export async function buildOperation(vips: VipsFfi, name: string, input: AttachInput | undefined, settings: OperationSettings, failure: string): Promise<Pointer> {
  const op = vips.operationNew(name);
  if (!op) throw vipsFailure(vips, `vips_operation_new(${name}) failed`);
  let built: Pointer = null;
  try {
    input?.(op);
    for (const [key, { kind, value }] of Object.entries(settings.objects ?? {})) vips.setObjectProperty(op, key, kind, value);
    const set = Object.entries(settings.args ?? {}).every(([key, value]) => vips.setArgument(op, key, value) === 0) &&
      (settings.options === undefined || vips.setFromString(op, settings.options) === 0);
    if (set) built = await vips.buildCached(op);
    if (!built) throw vipsFailure(vips, failure);
    return built;
  } finally {
    if (!built) vips.unrefOutputs(op);
    vips.unref(op);
  }
}

/** Frees a built operation and its outputs (buildOperation's result); null is ignored. */
export function releaseOperation(vips: VipsFfi, built: Pointer): void {
  if (!built) return;
  vips.unrefOutputs(built);
  vips.unref(built);
}

/** libvips' own message (and clears it), or `fallback` when it has none. */
export function vipsFailure(vips: VipsFfi, fallback: string): Error {
  const message = vips.errorBuffer().trim() || fallback;
  vips.errorClear();
  return new Error(message);
}

