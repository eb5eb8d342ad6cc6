/**
 * The few libvips (and GLib) functions dzsave-direct.ts and vips-raw-rows.ts call in
 * the libvips that sharp bundles, through koffi (an FFI with prebuilt binaries). sharp
 * exposes no way to run dzsave in direct mode, to load from a pipe or to stream raw pixels out.
 *
 * Only non-variadic functions: a variadic call cannot run on libuv's thread
 * pool, and the two builds (the load, which reads the header, and dzsave,
 * which runs the whole cut) must not block the JS thread.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

export type Pointer = unknown;
/** A GLib type id (GType). */
type GType = number | bigint;
export type ObjectKind = 'source' | 'target' | 'image';

export interface VipsFfi {
  operationNew(name: string): Pointer;
  setArgument(object: Pointer, name: string, value: string): number;
  setFromString(object: Pointer, options: string): number;
  /** vips_cache_operation_build on the thread pool: the built operation, or null. */
  buildCached(operation: Pointer): Promise<Pointer>;
  /** vips_object_build on the thread pool (no operation cache): 0 or -1. */
  build(object: Pointer): Promise<number>;
  unrefOutputs(object: Pointer): void;
  unref(object: Pointer): void;
  errorBuffer(): string;
  errorClear(): void;
  /** GLib's pipe(2) with close-on-exec set on both ends: true, and fds[0] (read) and fds[1] (write). */
  openPipe(fds: Int32Array): boolean;
  /** A VipsSource reading a duplicate of `fd` (the caller keeps and closes its own). */
  sourceFromDescriptor(fd: number): Pointer;
  /** A VipsTarget writing to a duplicate of `fd` (the caller keeps and closes its own). */
  targetFromDescriptor(fd: number): Pointer;
  /** object.name = value, for a property holding a GObject (a VipsSource, a VipsTarget, a VipsImage). */
  setObjectProperty(object: Pointer, name: string, kind: ObjectKind, value: Pointer): void;
  /** Copies the VipsImage property `name` of `from` into the VipsImage property `toName` of `to`. */
  copyImageProperty(from: Pointer, name: string, to: Pointer, toName: string): void;
  /** Evicts every operation from libvips' operation cache and keeps its size limit (process-wide: sharp's go too). */
  emptyOperationCache(): void;
  /**
   * Sets libvips' tile height (its `--vips-tile-height` option, process-wide), from which it sizes
   * the scanline buffers of every pipeline started afterwards (line-buffers.ts); false if refused.
   */
  setTileHeight(lines: number): boolean;
  /** libvips' tile height now (128 unless set). */
  tileHeight(): number;
}

/** The close-on-exec flag g_unix_open_pipe takes (fcntl's FD_CLOEXEC). */
const FD_CLOEXEC = 1;
/** sizeof(GValue) on 64-bit platforms: a GType and two 8-byte data words. */
const GVALUE_BYTES = 24;

let loaded: VipsFfi | null | undefined;

/** sharp's libvips shared library (its package exports the path as `/binary`), or null. */
function sharpLibvipsPath(): string | null {
  const require = createRequire(import.meta.url);
  const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
  const libc = process.platform === 'linux' && !glibc ? 'musl' : '';
  try {
    return require.resolve(`@img/sharp-libvips-${process.platform}${libc}-${process.arch}/binary`, { paths: [dirname(require.resolve('sharp'))] });
  } catch {
    return null;
  }
}

function onThreadPool<T>(fn: { async: (...args: unknown[]) => void }, ...args: unknown[]): Promise<T> {
  return new Promise((resolve, reject) => fn.async(...args, (err: unknown, result: T) => (err ? reject(err) : resolve(result))));
}

/** The functions, or null where sharp's libvips or koffi does not load (then callers use sharp). */
export function vipsFfi(): VipsFfi | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  const path = sharpLibvipsPath();
  if (!path) return loaded;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const lib = koffi.load(path);
    const cacheBuild = lib.func('void *vips_cache_operation_build(void *operation)');
    const objectBuild = lib.func('int vips_object_build(void *object)');
    const openPipe = lib.func('int g_unix_open_pipe(int *fds, int flags, void *error)');
    const cacheGetMax = lib.func('int vips_cache_get_max(void)');
    const cacheSetMax = lib.func('void vips_cache_set_max(int max)');
    const valueInit = lib.func('void *g_value_init(void *value, size_t type)');
    const valueSetObject = lib.func('void g_value_set_object(void *value, void *object)');
    const valueUnset = lib.func('void g_value_unset(void *value)');
    const setProperty = lib.func('void g_object_set_property(void *object, const char *name, void *value)');
    const getProperty = lib.func('void g_object_get_property(void *object, const char *name, void *value)');
    const optionContextNew = lib.func('void *g_option_context_new(const char *parameters)');
    const optionGroupNew = lib.func('void *g_option_group_new(const char *name, const char *description, const char *help, void *data, void *destroy)');
    const addVipsOptions = lib.func('void vips_add_option_entries(void *group)');
    const setMainGroup = lib.func('void g_option_context_set_main_group(void *context, void *group)');
    const parseOptions = lib.func('int g_option_context_parse_strv(void *context, _Inout_ void **arguments, void *error)');
    const freeOptionContext = lib.func('void g_option_context_free(void *context)');
    const splitString = lib.func('void *g_strsplit(const char *string, const char *delimiter, int max)');
    const freeStrings = lib.func('void g_strfreev(void *strings)');
    const imageNew = lib.func('void *vips_image_new(void)');
    const getTileSize = lib.func('void vips_get_tile_size(void *image, _Out_ int *width, _Out_ int *height, _Out_ int *lines)');
    const unrefObject = lib.func('void g_object_unref(void *object)');
    const types: Record<ObjectKind, GType> = {
      source: lib.func('size_t vips_source_get_type(void)')() as GType,
      target: lib.func('size_t vips_target_get_type(void)')() as GType,
      image: lib.func('size_t vips_image_get_type(void)')() as GType,
    };
    const newValue = (kind: ObjectKind): Buffer => {
      const value = Buffer.alloc(GVALUE_BYTES);
      valueInit(value, types[kind]);
      return value;
    };
    loaded = {
      operationNew: lib.func('void *vips_operation_new(const char *name)'),
      setArgument: lib.func('int vips_object_set_argument_from_string(void *object, const char *name, const char *value)'),
      setFromString: lib.func('int vips_object_set_from_string(void *object, const char *options)'),
      buildCached: (operation) => onThreadPool<Pointer>(cacheBuild, operation),
      build: (object) => onThreadPool<number>(objectBuild, object),
      unrefOutputs: lib.func('void vips_object_unref_outputs(void *object)'),
      unref: unrefObject,
      errorBuffer: lib.func('const char *vips_error_buffer(void)'),
      errorClear: lib.func('void vips_error_clear(void)'),
      openPipe: (fds) => openPipe(fds, FD_CLOEXEC, null) !== 0,
      sourceFromDescriptor: lib.func('void *vips_source_new_from_descriptor(int descriptor)'),
      targetFromDescriptor: lib.func('void *vips_target_new_to_descriptor(int descriptor)'),
      setObjectProperty: (object, name, kind, value) => {
        const holder = newValue(kind);
        valueSetObject(holder, value);
        setProperty(object, name, holder);
        valueUnset(holder);
      },
      copyImageProperty: (from, name, to, toName) => {
        const holder = newValue('image');
        getProperty(from, name, holder);
        setProperty(to, toName, holder);
        valueUnset(holder);
      },
      // Not vips_cache_drop_all: that frees the cache itself, for shutdown, and the next operation crashes.
      emptyOperationCache: () => {
        const limit = cacheGetMax();
        cacheSetMax(0);
        cacheSetMax(limit);
      },
      // libvips keeps its tile height in a variable only its command-line options set: parse one.
      setTileHeight: (lines) => {
        if (!Number.isInteger(lines) || lines < 1) return false;
        const context = optionContextNew(null);
        const group = optionGroupNew('vips', 'libvips', 'libvips', null, null);
        addVipsOptions(group);
        setMainGroup(context, group);
        const argv = [splitString(`hugemap --vips-tile-height=${lines}`, ' ', -1)];
        const parsed = parseOptions(context, argv, null) !== 0;
        freeStrings(argv[0]);
        freeOptionContext(context);
        return parsed;
      },
      // An empty image asks for small tiles, whose height is the setting itself.
      tileHeight: () => {
        const image = imageNew();
        const width = [0];
        const height = [0];
        const lines = [0];
        getTileSize(image, width, height, lines);
        unrefObject(image);
        return height[0] as number;
      },
    };
  } catch {
    loaded = null;
  }
  return loaded;
}
