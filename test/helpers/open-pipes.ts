/** The pipes a test's process holds open: a cut that reads through a pipe must leave none behind. */
import { readdir, readlink } from 'node:fs/promises';

/** The pipes this process holds open, by inode (`pipe:[123]` links in /proc/self/fd). */
export async function openPipes(): Promise<Set<string>> {
  const pipes = new Set<string>();
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target.startsWith('pipe:')) pipes.add(target);
  }
  return pipes;
}
