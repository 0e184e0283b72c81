// SPDX-License-Identifier: Apache-2.0
// What xlvs-decap has attached, read from its pins: the link, the mode, the address sets
// (allow-list, local addresses, VIPs) and the counters summed over CPUs, named after enum
// xlvs_decap_stat.

import { readdirSync } from 'node:fs';
import type { XdpMode } from '../kernel/link.js';
import { XdpLink } from '../kernel/link.js';
import { lib } from '../kernel/libbpf.js';
import { libc } from '../kernel/libc.js';
import { pinExists } from '../kernel/bpffs.js';
import { XLVS_DECAP_STAT } from '../gen/decap-abi.js';
import { readAddressSets } from './address-sets.js';
import { DecapNotAttachedError } from './errors.js';
import { pinnedMaps, type DecapMaps } from './maps.js';
import { checkIfname, devPins } from './pins.js';
import { modeOf, queryXdp } from './xdp-query.js';

export type DecapCounterName = Lowercase<Exclude<keyof typeof XLVS_DECAP_STAT, 'MAX'>>;
export type DecapCounters = Record<DecapCounterName, bigint>;

export interface DecapStatus {
  dev: string;
  /** The pinned link, or null when none is pinned. ifindex 0: the interface is gone. */
  link: { id: number; progId: number; ifindex: number } | null;
  /** Mode the program runs in, when dev exists in this network namespace and runs it. */
  mode: XdpMode | null;
  /** Outer sources allowed (empty: none, nothing is decapsulated). */
  allow: string[];
  /** The host's addresses as of the last attach: the outer destinations taken as ours. */
  local: string[];
  /** Inner destinations accepted. */
  vips: string[];
  counters: DecapCounters;
}

export const COUNTER_NAMES = Object.keys(XLVS_DECAP_STAT)
  .filter((k) => k !== 'MAX')
  .map((k) => k.toLowerCase() as DecapCounterName);

export function readCounters(maps: DecapMaps): DecapCounters {
  const out = {} as DecapCounters;
  for (const name of COUNTER_NAMES) {
    const idx = XLVS_DECAP_STAT[name.toUpperCase() as Uppercase<DecapCounterName>];
    out[name] = (maps.stats.lookup(idx) ?? []).reduce((s, v) => s + v, 0n);
  }
  return out;
}

function devStatus(pinDir: string, dev: string): DecapStatus {
  const pins = devPins(pinDir, dev);
  if (!pinExists(pins.dir)) throw new DecapNotAttachedError(dev, pinDir);
  let link: DecapStatus['link'] = null;
  const l = XdpLink.open(pins.link);
  if (l) {
    try {
      link = l.info();
    } finally {
      l.close();
    }
  }
  let mode: XdpMode | null = null;
  // The link's ifindex means something only in the interface's own namespace: trust it when
  // the name resolves to the same index here.
  if (link && link.ifindex !== 0 && libc.if_nametoindex(dev) === link.ifindex) mode = modeOf(queryXdp(link.ifindex), link.progId);
  const maps = pinnedMaps(pins.maps);
  try {
    return { dev, link, mode, ...readAddressSets(maps), counters: readCounters(maps) };
  } finally {
    maps.close();
  }
}

/** Status of one interface, or of every interface with pins under pinDir. */
export function readStatus(pinDir: string, dev?: string): DecapStatus[] {
  if (dev !== undefined) return [devStatus(pinDir, checkIfname('DEV', dev))];
  if (!pinExists(pinDir)) return [];
  return readdirSync(pinDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .map((name) => devStatus(pinDir, name));
}
