// SPDX-License-Identifier: Apache-2.0
// IPv4 and IPv6 addresses as the model keeps them: strings in one canonical form, so that two
// spellings of one address are the same key everywhere (service ids, real ids, map diffs).
//
// IPv4 is strict dotted-quad: inet_aton() also accepts "10.1", "0x0a.0.0.1" and "010.0.0.1"
// (octal!), so a lenient parser would let "010.0.0.1" mean 8.0.0.1 to one tool and 10.0.0.1 to
// another. We accept exactly four decimal octets 0..255 without leading zeros.
// IPv6 accepts every RFC 4291 text form (any case, leading zeros in groups, "::", a trailing
// dotted quad) and formats per RFC 5952: lower case, no leading zeros, the longest run of two
// or more zero groups (the first of equal runs) as "::", and ::ffff:0:0/96 with a dotted quad.
// Zone ids ("fe80::1%eth0") are refused: a VIP or real is not scoped to an interface.

import type { Family } from './types.js';

const OCTET = '(?:0|[1-9][0-9]{0,2})';
const DOTTED_QUAD = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Bytes of the data plane's `__be32 addr[4]`: an IPv4 address fills the first 4, the rest is zero. */
export const ADDRESS_BYTES = 16;

/** The address as an unsigned 32-bit number in host order (a.b.c.d → a<<24|…|d), or null. */
export function parseIPv4(s: string): number | null {
  if (typeof s !== 'string' || !DOTTED_QUAD.test(s)) return null;
  let n = 0;
  for (const part of s.split('.')) {
    const octet = Number(part);
    if (octet > 255) return null;
    // Multiply instead of shifting: `<<` works on signed 32-bit ints and would go negative.
    n = n * 256 + octet;
  }
  return n;
}

export function isIPv4(s: unknown): s is string {
  return typeof s === 'string' && parseIPv4(s) !== null;
}

/** Inverse of parseIPv4, for values read back from the data plane. */
export function formatIPv4(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`not a uint32 IPv4 address: ${n}`);
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}

/** The 16 bytes of an IPv6 address in any RFC 4291 text form, or null. */
export function parseIPv6(s: string): Buffer | null {
  if (typeof s !== 'string' || s.length === 0 || s.length > 45) return null;
  let text = s;
  let tail: number[] = []; // groups from a trailing dotted quad
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (v4 === null) return null;
    tail = [v4 >>> 16, v4 & 0xffff];
    // "::1.2.3.4" keeps its "::" (a compression); "a:b:c:d:e:f:1.2.3.4" drops the separator.
    text = text.slice(0, lastColon + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!HEX_GROUP.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === null || rest === null) return null;
  const known = head.length + rest.length + tail.length;
  let all: number[];
  if (halves.length === 2) {
    if (known > 7) return null; // "::" stands for at least one zero group
    all = [...head, ...new Array<number>(8 - known).fill(0), ...rest, ...tail];
  } else {
    if (known !== 8) return null;
    all = [...head, ...tail];
  }
  const buf = Buffer.alloc(ADDRESS_BYTES);
  all.forEach((g, i) => buf.writeUInt16BE(g, i * 2));
  return buf;
}

function isV4MappedBytes(b: Buffer): boolean {
  return b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
}

/** RFC 5952 text of 16 address bytes. */
export function formatIPv6(b: Buffer): string {
  if (b.length !== ADDRESS_BYTES) throw new RangeError(`an IPv6 address has 16 bytes, got ${b.length}`);
  if (isV4MappedBytes(b)) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const g = Array.from({ length: 8 }, (_, i) => (b[i * 2]! << 8) | b[i * 2 + 1]!);
  // Longest run of zero groups, at least two long; the first wins a tie (RFC 5952 4.2.3).
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (from: number, to: number) => g.slice(from, to).map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** 4 or 6 for a valid address, null otherwise. */
export function familyOf(s: unknown): Family | null {
  if (isIPv4(s)) return 4;
  if (typeof s === 'string' && parseIPv6(s) !== null) return 6;
  return null;
}

/** The one form the model keeps: IPv4 as given (it is already strict), IPv6 per RFC 5952. */
export function canonicalAddress(s: unknown): string | null {
  if (isIPv4(s)) return s;
  const b = typeof s === 'string' ? parseIPv6(s) : null;
  return b === null ? null : formatIPv6(b);
}

/** ::ffff:a.b.c.d: an IPv4 host written as IPv6; never on the wire of an IPv6 packet. */
export function isV4Mapped(s: string): boolean {
  const b = parseIPv6(s);
  return b !== null && isV4MappedBytes(b);
}

/** The data plane's 16-byte form (`__be32 addr[4]`); IPv4 in the first 4 bytes, rest zero. */
export function addressBytes(s: string): Buffer {
  const v4 = parseIPv4(s);
  if (v4 !== null) {
    const buf = Buffer.alloc(ADDRESS_BYTES);
    buf.writeUInt32BE(v4, 0);
    return buf;
  }
  const v6 = parseIPv6(s);
  if (v6 === null) throw new RangeError(`not an IP address: ${JSON.stringify(s)}`);
  return v6;
}

/** Inverse of addressBytes; the family says how to read the 16 bytes. */
export function addressFromBytes(b: Buffer, family: Family): string {
  if (b.length !== ADDRESS_BYTES) throw new RangeError(`an address has 16 bytes, got ${b.length}`);
  if (family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  return formatIPv6(b);
}

/** 32 for IPv4, 128 for IPv6. */
export function maxPrefix(family: Family): number {
  return family === 4 ? 32 : 128;
}

/** The address with every bit past `prefix` cleared (the network a persistence mask groups). */
export function maskPrefix(s: string, prefix: number): string {
  const family = familyOf(s);
  if (family === null) throw new RangeError(`not an IP address: ${JSON.stringify(s)}`);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > maxPrefix(family)) {
    throw new RangeError(`prefix length must be 0..${maxPrefix(family)} for IPv${family}, got ${prefix}`);
  }
  const b = addressBytes(s);
  for (let i = 0; i < ADDRESS_BYTES; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    b[i] = b[i]! & ((0xff00 >> keep) & 0xff);
  }
  return addressFromBytes(b, family);
}

/** "10.0.0.1:80", "[2001:db8::1]:80": an address and port as one token, brackets for IPv6. */
export function joinHostPort(address: string, port: number | string): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
