/**
 * Which IP addresses a user-supplied URL may make us connect to.
 *
 * Default-deny: only ordinary global unicast is allowed. Every special range
 * ipaddr.js knows (loopback, RFC 1918, link-local, CGNAT, documentation,
 * benchmarking, multicast, tunnels...) is refused, so a range added to a
 * future ipaddr.js release is refused too rather than silently allowed.
 * The one exception is IPv6 that merely wraps an IPv4 address which the kernel
 * or a NAT64 gateway would actually connect to; those are judged by the
 * embedded IPv4 address, so `::ffff:127.0.0.1` is as forbidden as `127.0.0.1`.
 */
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Cloud instance-metadata endpoints, named separately so logs say what an
 * attacker was after. Most already sit in a forbidden range; Azure's WireServer
 * (168.63.129.16) does not, which is why this list is consulted first.
 */
const METADATA_ADDRESSES = new Set([
  '169.254.169.254', // AWS, GCP, Azure, OpenStack, DigitalOcean
  '169.254.170.2', // AWS ECS task metadata
  '168.63.129.16', // Azure WireServer: a public address reachable only from inside Azure
  '100.100.100.200', // Alibaba Cloud
  'fd00:ec2::254', // AWS IMDS over IPv6
]);

const IPV4_REASONS: Readonly<Record<string, string>> = {
  unspecified: 'unspecified',
  broadcast: 'broadcast',
  multicast: 'multicast',
  linkLocal: 'link-local',
  loopback: 'loopback',
  carrierGradeNat: 'carrier-grade NAT',
  private: 'private',
};

const IPV6_REASONS: Readonly<Record<string, string>> = {
  unspecified: 'unspecified',
  linkLocal: 'link-local',
  multicast: 'multicast',
  loopback: 'loopback',
  uniqueLocal: 'unique local',
  deprecatedSiteLocal: 'site-local',
};

/** Ranges whose last 32 bits are an IPv4 address that the connection really reaches. */
const IPV6_EMBEDDING_IPV4: Readonly<Record<string, string>> = {
  ipv4Mapped: 'IPv4-mapped', // ::ffff:a.b.c.d, dual-stack sockets connect over IPv4
  rfc6145: 'IPv4-translated', // ::ffff:0:a.b.c.d
};
/** Well-known NAT64 prefix 64:ff9b::/96 (RFC 6052); the local-use 64:ff9b:1::/48 stays refused. */
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96');
/** Deprecated IPv4-compatible ::a.b.c.d; never a real destination, and easy to confuse with IPv4. */
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96');

/**
 * Returns why `ip` must not be connected to, or null when it is a public
 * address. Anything that is not a canonical IPv4/IPv6 literal is refused.
 */
export function isForbiddenAddress(ip: string): string | null {
  const literal = stripBrackets(ip.trim());
  const family = isIP(literal);
  if (family === 0) return 'not an IP address';
  const addr = ipaddr.parse(family === 6 ? canonicalIpv6(literal) : literal);
  if (METADATA_ADDRESSES.has(addr.toNormalizedString()) || METADATA_ADDRESSES.has(addr.toString())) return 'metadata';
  return addr.kind() === 'ipv4' ? ipv4Reason(addr as ipaddr.IPv4) : ipv6Reason(addr as ipaddr.IPv6);
}

function ipv4Reason(addr: ipaddr.IPv4): string | null {
  const range = addr.range();
  if (range === 'unicast') return null;
  return IPV4_REASONS[range] ?? 'reserved';
}

function ipv6Reason(addr: ipaddr.IPv6): string | null {
  const range = addr.range();
  const embeddingLabel = IPV6_EMBEDDING_IPV4[range];
  if (embeddingLabel !== undefined) return embeddedReason(embeddingLabel, addr);
  if (addr.match(NAT64_WELL_KNOWN)) return embeddedReason('NAT64', addr);
  if (range === 'unicast') return addr.match(IPV4_COMPATIBLE) ? 'reserved' : null;
  return IPV6_REASONS[range] ?? 'reserved';
}

function embeddedReason(label: string, addr: ipaddr.IPv6): string | null {
  const [, , , , , , hi = 0, lo = 0] = addr.parts;
  const ipv4 = new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  const inner = isForbiddenAddress(ipv4.toString());
  return inner === null ? null : `${label} ${inner}`;
}

/**
 * ipaddr.js reads `::1.2.3.4` as IPv4-mapped while the kernel (and WHATWG URL)
 * read it as the deprecated IPv4-compatible `::102:304`; canonicalising through
 * the URL parser first makes us judge the address that is really dialled.
 * The zone id (`%eth0`) is dropped: it never changes an address's range.
 */
function canonicalIpv6(literal: string): string {
  const withoutZone = literal.replace(/%.*$/, '');
  return new URL(`http://[${withoutZone}]/`).hostname.slice(1, -1);
}

function stripBrackets(s: string): string {
  return s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
}
