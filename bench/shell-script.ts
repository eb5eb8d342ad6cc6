/**
 * The baseline the service path has to beat: the shell script someone would write instead of
 * hugemap, `vips dzsave` (the fastest tiler) and then `rclone copy` of the tile folder into the
 * same S3 server the service path writes to. Both steps are timed under /usr/bin/time; the
 * contender's wall time is their sum, its peak RSS and own memory the larger of the two, its CPU
 * seconds theirs plus what the stack's processes (MinIO storing the files) spent meanwhile.
 *
 * rclone is given the flags that make it fastest for thousands of small files. Measured
 * 2026-12-01 by timing `rclone copy` of the 236 MP photo's dzsave folder (4,853 files) into a
 * local MinIO: 9.3-9.8 s with rclone's defaults and 16 transfers, 5.8-6.1 s with these: no HEAD
 * after each PUT, no listing or checking of the destination; 8 and 32 transfers took the same.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { locateBinaries } from '../services/dev/local-servers.js';
import { VIPS } from './contenders.js';
import { cpuSecondsOfAll, folderStats, runTimed } from './measure.js';
import type { RunFigures } from './results.js';
import type { Stack } from './service-path.js';

export const SHELL_SCRIPT = {
  id: 'dzsave-rclone',
  label: 'shell script: vips dzsave + rclone',
} as const;

const TRANSFERS = 16;
const REMOTE = 'hugemapbench';

/** The rclone binary built by tools/build-test-servers.sh (or on PATH); throws MissingBinaryError naming the fix. */
export function rcloneBinary(env: NodeJS.ProcessEnv = process.env): string {
  return locateBinaries(env, ['rclone']).rclone!;
}

export function rcloneVersion(rclone: string): string {
  return execFileSync(rclone, ['version'], { encoding: 'utf8' }).split('\n')[0]!.replace(/^rclone /, '');
}

/** rclone's remote, configured through its environment variables: no config file is read or written. */
function rcloneEnv(stackEnv: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const remote = `RCLONE_CONFIG_${REMOTE.toUpperCase()}`;
  return {
    ...process.env,
    [`${remote}_TYPE`]: 's3',
    [`${remote}_PROVIDER`]: 'Minio',
    [`${remote}_ENDPOINT`]: stackEnv.S3_ENDPOINT,
    [`${remote}_REGION`]: stackEnv.S3_REGION,
    [`${remote}_ACCESS_KEY_ID`]: stackEnv.S3_ACCESS_KEY_ID,
    [`${remote}_SECRET_ACCESS_KEY`]: stackEnv.S3_SECRET_ACCESS_KEY,
    RCLONE_CONFIG: '/dev/null',
  };
}

export function rcloneCopyArgs(from: string, bucket: string, prefix: string): string[] {
  return [
    'copy', from, `${REMOTE}:${bucket}/${prefix}`,
    '--transfers', String(TRANSFERS), '--checkers', String(TRANSFERS),
    '--s3-no-head', '--s3-no-check-bucket', '--no-traverse', '--no-check-dest',
  ];
}

let scriptRuns = 0;

/**
 * One run: dzsave into a fresh folder, rclone it into the stack's bucket, then remove both. A run
 * whose upload did not store every file throws: a fast empty upload must not count.
 */
export async function runShellScript(stack: Stack, rclone: string, input: string, scratch: string): Promise<RunFigures> {
  const out = join(scratch, 'out-dzsave-rclone');
  const prefix = `shell-script/run-${scriptRuns++}/`;
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  let removed = false;
  try {
    const tiler = VIPS.command(input, out);
    const servers0 = cpuSecondsOfAll(stack.pids());
    const cut = await runTimed(tiler.command, tiler.args, join(scratch, 'dzsave-rclone-cut.time'));
    const copy = await runTimed(rclone, rcloneCopyArgs(out, stack.env.S3_BUCKET!, prefix), join(scratch, 'dzsave-rclone-copy.time'), { env: rcloneEnv(stack.env) });
    const serversCpuS = cpuSecondsOfAll(stack.pids()) - servers0;
    const { files, bytes } = await folderStats(out);
    const stored = await stack.s3.deletePrefix(prefix);
    removed = true;
    if (stored !== files) throw new Error(`rclone stored ${stored} of the ${files} files dzsave wrote`);
    return {
      wallS: Math.round((cut.wallS + copy.wallS) * 1000) / 1000,
      peakRssMB: Math.max(cut.peakRssMB, copy.peakRssMB),
      peakAnonMB: Math.max(cut.peakAnonMB, copy.peakAnonMB),
      cpuS: Math.round((cut.cpuS + copy.cpuS + serversCpuS) * 100) / 100,
      outputBytes: bytes,
      uploadS: Math.round(copy.wallS * 1000) / 1000,
    };
  } finally {
    await rm(out, { recursive: true, force: true });
    if (!removed) await stack.s3.deletePrefix(prefix).catch(() => undefined);
  }
}
