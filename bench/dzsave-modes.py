#!/usr/bin/env python3
"""
dzsave's two ways of writing JPEG tiles, in the libvips that sharp bundles.

libvips >= 8.15 has a "direct" mode (libvips PR 3557): with no `suffix`, dzsave
compresses each tile straight from the strip in memory instead of building a
small pipeline per tile. sharp's .tile() always passes a suffix
(".jpeg[Q=..,optimize_coding=..]"), so it never gets that mode, and direct mode
has no optimize_coding. sharp does not expose dzsave any other way, so this
script calls sharp's libvips through ctypes: same library, same threads, same
file, one mode at a time, alternating.

  python3 bench/dzsave-modes.py IMAGE [RUNS]        (run from the repository root)

Prints a Markdown table: wall and CPU seconds, peak RSS, tile bytes. Tiles go
under $TMPDIR (use /dev/shm, as the benchmark does).
"""
import ctypes
import glob
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

MODES = {
    'direct (no suffix), Q85': None,
    'suffix .jpeg[Q=85]': '.jpeg[Q=85]',
    'suffix .jpeg[Q=85,optimize_coding] (what hugemap uses)': '.jpeg[Q=85,optimize_coding]',
}


def libvips_path():
    found = glob.glob('node_modules/@img/sharp-libvips-*/lib/libvips-cpp.so.*')
    if not found:
        sys.exit('dzsave-modes: sharp\'s libvips not found under node_modules/@img (run npm ci in the repository root)')
    return os.path.abspath(found[0])


def child(mode_suffix, image, out):
    """One dzsave in this (fresh) process."""
    lib = ctypes.CDLL(libvips_path())
    lib.vips_error_buffer.restype = ctypes.c_char_p
    lib.vips_image_new_from_file.restype = ctypes.c_void_p
    if lib.vips_init(b'dzsave-modes') != 0:
        sys.exit('vips_init failed')
    img = lib.vips_image_new_from_file(image.encode(), b'access', ctypes.c_int(1), None)  # 1: sequential
    if not img:
        sys.exit(lib.vips_error_buffer().decode())
    common = [b'tile_size', ctypes.c_int(256), b'overlap', ctypes.c_int(0), b'depth', ctypes.c_int(0)]  # 0: onepixel
    extra = [b'Q', ctypes.c_int(85)] if mode_suffix == '-' else [b'suffix', mode_suffix.encode()]
    if lib.vips_dzsave(ctypes.c_void_p(img), out.encode(), *common, *extra, None) != 0:
        sys.exit(lib.vips_error_buffer().decode())


def tile_bytes(out):
    total = 0
    for root, _, files in os.walk(out + '_files'):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == '--child':
        child(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    image = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    results = {name: [] for name in MODES}
    for run in range(runs):
        names = list(MODES)
        names = names[run % len(names):] + names[:run % len(names)]  # rotate the order each run
        for name in names:
            work = tempfile.mkdtemp(prefix='dzsave-modes-')
            out = os.path.join(work, 'image')
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            subprocess.run([sys.executable, __file__, '--child', MODES[name] or '-', image, out], check=True)
            wall = time.monotonic() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            results[name].append((wall, cpu, after.ru_maxrss / 1024, tile_bytes(out)))
            shutil.rmtree(work)
            print(f'dzsave-modes: run {run + 1}/{runs} {name}: {wall:.2f} s, {cpu:.2f} CPU-s', file=sys.stderr)
    print(f'`python3 bench/dzsave-modes.py {os.path.basename(image)} {runs}`: libvips {os.path.basename(libvips_path())}, '
          f'{os.cpu_count()} cores, {runs} alternating runs, median (min-max).\n')
    print('| dzsave mode | wall s | CPU s (user+sys) | tile MB |')
    print('|---|---|---|---|')
    for name, rows in results.items():
        walls, cpus = [r[0] for r in rows], [r[1] for r in rows]
        print(f'| {name} | {statistics.median(walls):.2f} ({min(walls):.2f}-{max(walls):.2f}) | '
              f'{statistics.median(cpus):.2f} ({min(cpus):.2f}-{max(cpus):.2f}) | {rows[0][3] / 1e6:.1f} |')


if __name__ == '__main__':
    main()
