// SPDX-License-Identifier: Apache-2.0
// Replacing the allow-list of a running program. The program reads two things, the enforce
// flag and the set, so the order of writes decides what packets in flight see:
//  - a non-empty list: add the new sources, then enforce, then remove the old ones; no packet
//    from a source on both lists is ever refused;
//  - an empty list: stop enforcing first, then empty the set; nothing is refused on the way.

import { CapacityError } from '../errors.js';
import { XLVS_DECAP_ALLOW_MAX, type XlvsDecapAddr } from '../gen/decap-abi.js';
import { formatDecapKey, type DecapAddress } from './address.js';
import type { DecapMaps } from './maps.js';

const keyId = (k: XlvsDecapAddr): string => `${k.w0}:${k.w1}:${k.w2}:${k.w3}`;

export function readAllowList(maps: DecapMaps): { enforced: boolean; addresses: string[] } {
  const enforced = (maps.cfg.lookup(0)?.enforce_allow ?? 0) !== 0;
  const addresses = [...maps.allow.entries()].map(([k]) => formatDecapKey(k)).sort();
  return { enforced, addresses };
}

export function writeAllowList(maps: DecapMaps, list: DecapAddress[]): void {
  const wanted = new Map(list.map((a) => [keyId(a.key), a.key]));
  if (wanted.size > XLVS_DECAP_ALLOW_MAX) throw new CapacityError('allow-list addresses', XLVS_DECAP_ALLOW_MAX);
  const present = [...maps.allow.entries()].map(([k]) => k);
  const stale = present.filter((k) => !wanted.has(keyId(k)));
  if (wanted.size > 0) {
    for (const k of wanted.values()) maps.allow.update(k, 1);
    maps.cfg.update(0, { enforce_allow: 1 });
  } else {
    maps.cfg.update(0, { enforce_allow: 0 });
  }
  for (const k of stale) maps.allow.delete(k);
}
