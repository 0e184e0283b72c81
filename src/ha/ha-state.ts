// SPDX-License-Identifier: Apache-2.0
// What HA keeps in the state dir (ha.json, written durably: state/durable-file.ts):
//  - hold: the router is held as backup (maintenance) until told otherwise, across restarts;
//  - floating: the floating addresses this daemon put on its interfaces, so `xlvsd --teardown`
//    (which has no config) takes them off again: left there without the data plane, the kernel
//    would answer ARP/ND for them and fight the peer.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { DurableFile } from '../state/durable-file.js';
import { canonicalAddress } from '../model/ip.js';

export interface FloatingSet {
  /** Interface name -> the addresses put on it. */
  [iface: string]: string[];
}

export interface HaSaved {
  hold: boolean;
  floating: FloatingSet;
}

const EMPTY: HaSaved = { hold: false, floating: {} };

export function parseHaSaved(text: string, file: string): HaSaved {
  const v = JSON.parse(text) as unknown;
  const bad = (why: string): never => {
    throw new Error(`${file}: ${why}`);
  };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('not a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o.hold !== 'boolean') return bad('"hold" must be true or false');
  const f = o.floating;
  if (typeof f !== 'object' || f === null || Array.isArray(f)) return bad('"floating" must be an object of interface -> addresses');
  const floating: FloatingSet = {};
  for (const [iface, list] of Object.entries(f)) {
    if (!Array.isArray(list) || !list.every((a) => canonicalAddress(a) !== null)) return bad(`"floating.${iface}" must be a list of addresses`);
    floating[iface] = list as string[];
  }
  return { hold: o.hold, floating };
}

export class HaStateFile {
  private readonly file: DurableFile<HaSaved>;
  private value: HaSaved;

  constructor(stateDir: string, log: Pick<Logger, 'warn'>) {
    mkdirSync(stateDir, { recursive: true });
    this.file = new DurableFile(join(stateDir, 'ha.json'), parseHaSaved, log);
    this.value = this.file.read() ?? { ...EMPTY, floating: {} };
  }

  get saved(): HaSaved {
    return this.value;
  }

  /** Saves a change durably; throws (nothing changed) when it could not. */
  save(change: Partial<HaSaved>): void {
    const next = { ...this.value, ...change };
    this.file.write(JSON.stringify(next, null, 2) + '\n');
    this.value = next;
  }
}
