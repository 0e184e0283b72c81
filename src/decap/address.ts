// SPDX-License-Identifier: Apache-2.0
// Outer source addresses for the decap allow-list. One map holds both families: an IPv4
// address is keyed as IPv4-mapped IPv6 (::ffff:a.b.c.d), as bpf/xlvs_decap_abi.h says.
// Text <-> bytes is the model's codec (model/ip.ts): one spelling means one address to every tool.

import { InvalidArgumentError } from '../errors.js';
import { ADDRESS_BYTES, formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../model/ip.js';
import type { XlvsDecapAddr } from '../gen/decap-abi.js';

export interface DecapAddress {
  family: 4 | 6;
  /** Canonical text: dotted quad, or RFC 5952 IPv6. */
  text: string;
  key: XlvsDecapAddr;
}

function isMapped(k: XlvsDecapAddr): boolean {
  return k.w0 === 0 && k.w1 === 0 && k.w2 === 0xffff;
}

/** Parses an IPv4 or IPv6 address typed by a person; the error names `field`. */
export function parseDecapAddress(field: string, text: string): DecapAddress {
  const v4 = parseIPv4(text);
  if (v4 !== null) return { family: 4, text: formatIPv4(v4), key: { w0: 0, w1: 0, w2: 0xffff, w3: v4 } };
  const b = parseIPv6(text);
  if (b === null) throw new InvalidArgumentError(field, text, 'must be an IPv4 address like 10.0.0.1 or an IPv6 address like 2001:db8::1');
  const key = { w0: b.readUInt32BE(0), w1: b.readUInt32BE(4), w2: b.readUInt32BE(8), w3: b.readUInt32BE(12) };
  // ::ffff:a.b.c.d is the key an IPv4 source has; show it as the IPv4 address it stands for.
  if (isMapped(key)) return { family: 4, text: formatIPv4(key.w3), key };
  return { family: 6, text: formatIPv6(b), key };
}

/** The address an allow-list key stands for, as text. */
export function formatDecapKey(k: XlvsDecapAddr): string {
  if (isMapped(k)) return formatIPv4(k.w3);
  const b = Buffer.alloc(ADDRESS_BYTES);
  [k.w0, k.w1, k.w2, k.w3].forEach((w, i) => b.writeUInt32BE(w, i * 4));
  return formatIPv6(b);
}
