/**
 * A child process that never outlives us: started under `setpriv --pdeathsig`
 * so the kernel signals it when this process dies, even by SIGKILL, where no
 * cleanup code of ours can run. Used for the backing servers and for the api
 * and worker children of `hugemap dev`.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)); // util-linux, on every Debian

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves once the process has ended (or failed to start), never rejects. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it is gone. */
  stop(graceMs: number): Promise<void>;
}

export interface SpawnOptions {
  env: NodeJS.ProcessEnv;
  stdio: StdioOptions;
  cwd?: string;
}

export function spawnManaged(name: string, command: string, args: string[], opts: SpawnOptions): ManagedProcess {
  const [file, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'TERM', '--', command, ...args]] : [command, args];
  // Own process group: a terminal's Ctrl-C reaches only our process, which
  // then stops the children in order (api and worker drain before the servers go).
  const child = spawn(file, argv, { stdio: opts.stdio, env: opts.env, cwd: opts.cwd, detached: true });
  // Killed outright (no stop() called): take the child with us. pdeathsig
  // covers SIGKILL; this covers a plain process.exit().
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);

  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => {
      done = true;
      resolve({ code: null, signal: null, error });
    });
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
  });
  void exited.then(() => process.off('exit', killOnExit));

  return {
    name,
    child,
    exited,
    hasExited: () => done,
    async stop(graceMs) {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
