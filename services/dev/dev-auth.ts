/**
 * Who must sign in on a `hugemap dev` stack. On loopback nobody else can reach
 * it, so unless AUTH_MODE says otherwise it runs open (every request acts as
 * the local admin: upload from the web app or curl at once). Listening on a
 * network address it stays `required`, and asking for `open` there is refused:
 * anyone on that network would be an admin.
 */
import ipaddr from 'ipaddr.js';
import { ConfigError } from '../../shared/errors.js';

export type AuthMode = 'open' | 'required';

export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  if (!ipaddr.isValid(bare)) return false;
  const addr = ipaddr.process(bare); // ::ffff:127.0.0.1 counts as IPv4 loopback
  return addr.range() === 'loopback';
}

/** `requested`: AUTH_MODE as the user set it, undefined when unset. */
export function devAuthMode(requested: string | undefined, host: string): AuthMode {
  const loopback = isLoopbackHost(host);
  if (requested === 'open' && !loopback) {
    throw new ConfigError(
      `AUTH_MODE=open is refused on --host ${host}: anyone who can reach it would act as an admin; ` +
        'listen on 127.0.0.1 (the default) or leave AUTH_MODE unset (required)',
    );
  }
  if (requested === 'open' || requested === 'required') return requested;
  return loopback ? 'open' : 'required';
}
