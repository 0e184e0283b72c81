// SPDX-License-Identifier: Apache-2.0
// Outer source addresses for the decap allow-list. One map holds both families: an IPv4
// address is keyed as IPv4-mapped IPv6 (::ffff:a.b.c.d), as bpf/xlvs_decap_abi.h says.
// Parsing is strict like config/ipv4.ts: one spelling means one address to every tool.

import { InvalidArgumentError } from '../errors.js';
import { formatIPv4, parseIPv4 } from '../config/ipv4.js';
import type { XlvsDecapAddr } from '../gen/decap-abi.js';

export interface DecapAddress {
  family: 4 | 6;
  /** Canonical text: dotted quad, or RFC 5952 IPv6. */
  text: string;
  key: XlvsDecapAddr;
}

const GROUP = /^[0-9a-fA-F]{1,4}$/;

/** The 8 groups of an IPv6 address, or null. Accepts "::" once and a dotted quad at the end. */
function parseIPv6Groups(s: string): number[] | null {
  if (s.length === 0 || s.length > 45) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const words = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p);
        if (v4 === null) return null;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else if (GROUP.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = words(halves[0]!);
  if (head === null) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const tail = words(halves[1]!);
  // A dotted quad may only end the address, so it cannot sit in front of "::".
  if (tail === null || halves[0]!.includes('.')) return null;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return null;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

/** RFC 5952: lower case, no leading zeros, the longest run (>= 2) of zero groups as "::". */
function formatIPv6(g: number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

function isMapped(k: XlvsDecapAddr): boolean {
  return k.w0 === 0 && k.w1 === 0 && k.w2 === 0xffff;
}

/** Parses an IPv4 or IPv6 address typed by a person; the error names `field`. */
export function parseDecapAddress(field: string, text: string): DecapAddress {
  const v4 = parseIPv4(text);
  if (v4 !== null) return { family: 4, text: formatIPv4(v4), key: { w0: 0, w1: 0, w2: 0xffff, w3: v4 } };
  const g = typeof text === 'string' ? parseIPv6Groups(text) : null;
  if (g === null) throw new InvalidArgumentError(field, text, 'must be an IPv4 address like 10.0.0.1 or an IPv6 address like 2001:db8::1');
  const key = { w0: g[0]! * 0x10000 + g[1]!, w1: g[2]! * 0x10000 + g[3]!, w2: g[4]! * 0x10000 + g[5]!, w3: g[6]! * 0x10000 + g[7]! };
  // ::ffff:a.b.c.d is the key an IPv4 source has; show it as the IPv4 address it stands for.
  if (isMapped(key)) return { family: 4, text: formatIPv4(key.w3), key };
  return { family: 6, text: formatIPv6(g), key };
}

/** The address an allow-list key stands for, as text. */
export function formatDecapKey(k: XlvsDecapAddr): string {
  if (isMapped(k)) return formatIPv4(k.w3);
  return formatIPv6([k.w0, k.w1, k.w2, k.w3].flatMap((w) => [w >>> 16, w & 0xffff]));
}
