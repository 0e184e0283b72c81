// SPDX-License-Identifier: Apache-2.0
// The three address sets of a running program (bpf/decap.h): decap_allow (outer sources: the
// LVS routers), decap_local (outer destinations: this host) and decap_vips (inner
// destinations). A tunnel packet is decapsulated only when all three say yes; an empty set
// says no to everything, so a program whose sets are not written yet decapsulates nothing.
//
// Replacing a set adds the new addresses before removing the stale ones: no packet to or from
// an address on both the old and the new list is refused on the way.

import { CapacityError } from '../errors.js';
import { XLVS_DECAP_ALLOW_MAX, XLVS_DECAP_LOCAL_MAX, XLVS_DECAP_VIP_MAX, type XlvsDecapAddr } from '../gen/decap-abi.js';
import type { BpfMap } from '../kernel/map.js';
import { formatDecapKey, type DecapAddress } from './address.js';
import type { DecapMaps } from './maps.js';

export interface AddressSets<T> {
  /** Outer sources allowed to tunnel to us. */
  allow: T;
  /** Addresses of this host: the outer destinations that are ours. */
  local: T;
  /** VIPs held on lo: the inner destinations accepted. */
  vips: T;
}

const LIMITS: AddressSets<[string, number]> = {
  allow: ['allow-list addresses', XLVS_DECAP_ALLOW_MAX],
  local: ['local addresses', XLVS_DECAP_LOCAL_MAX],
  vips: ['VIPs', XLVS_DECAP_VIP_MAX],
};

const SETS = ['allow', 'local', 'vips'] as const;

const keyId = (k: XlvsDecapAddr): string => `${k.w0}:${k.w1}:${k.w2}:${k.w3}`;

export function readAddressSets(maps: DecapMaps): AddressSets<string[]> {
  const read = (m: BpfMap<XlvsDecapAddr, number>): string[] => [...m.entries()].map(([k]) => formatDecapKey(k)).sort();
  return { allow: read(maps.allow), local: read(maps.local), vips: read(maps.vips) };
}

/** Replaces all three sets; every size is checked before anything is written. */
export function writeAddressSets(maps: DecapMaps, sets: AddressSets<DecapAddress[]>): void {
  const byKey = (l: DecapAddress[]): Map<string, XlvsDecapAddr> => new Map(l.map((a) => [keyId(a.key), a.key]));
  const wanted: AddressSets<Map<string, XlvsDecapAddr>> = { allow: byKey(sets.allow), local: byKey(sets.local), vips: byKey(sets.vips) };
  for (const s of SETS) {
    const [what, max] = LIMITS[s];
    if (wanted[s].size > max) throw new CapacityError(what, max);
  }
  for (const s of SETS) replaceSet(maps[s], wanted[s]);
}

function replaceSet(map: BpfMap<XlvsDecapAddr, number>, wanted: Map<string, XlvsDecapAddr>): void {
  const stale = [...map.entries()].map(([k]) => k).filter((k) => !wanted.has(keyId(k)));
  for (const k of wanted.values()) map.update(k, 1);
  for (const k of stale) map.delete(k);
}
