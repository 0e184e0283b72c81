// SPDX-License-Identifier: Apache-2.0
// What the flow-scale benchmark reads back from the kernel: a census of the flows map (entries by
// direction and state, complete connections, deadlines), the per-real connection counts the data
// plane keeps, and the map's size and memory as bpftool reports them.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monotonicNs } from '../../src/dataplane/reaper.js';
import { XLVS_DIR_FORWARD, XLVS_FLOW_TCP_EST, XLVS_FLOW_TCP_SYN } from '../../src/gen/abi.js';
import type { FlowEnv } from './flow-scale-env.js';
import { FLOW, walkFlows } from './flow-scale-walk.js';
import { median } from '../common/stats.js';

export interface Census {
  entries: number;
  forward: number;
  reply: number;
  /** Forward entries whose reply entry is there too: connections that still work both ways. */
  complete: number;
  /** Live forward entries by state (the truth the connection counts should show). */
  established: number;
  halfOpen: number;
  otherStates: number;
  /** Median seconds left before the deadline, per state of the forward entry (-1: none). */
  halfOpenSecondsLeft: number;
  establishedSecondsLeft: number;
}

/** Endpoint of a client as one number: IPv4 address * 65536 + port (exact below 2^53). */
const endpoint = (b: Buffer, addr: number, port: number): number => b.readUInt32BE(addr) * 65536 + b.readUInt16BE(port);

/** Walks the flows map. For NAT the reply entry is keyed real -> client: its destination is the
 * forward entry's source, which is what pairs them. */
export function census(env: FlowEnv): Census {
  const fwd = new Set<number>();
  const rep = new Set<number>();
  const left: Record<'syn' | 'est', number[]> = { syn: [], est: [] };
  const now = monotonicNs();
  let established = 0, halfOpen = 0, other = 0;
  const entries = walkFlows(env.dp.maps.flows.fd, (keys, k, vals, v) => {
    if (vals[v + FLOW.dir] !== XLVS_DIR_FORWARD) {
      rep.add(endpoint(keys, k + FLOW.dst, k + FLOW.dport));
      return;
    }
    fwd.add(endpoint(keys, k + FLOW.src, k + FLOW.sport));
    const secs = Number(vals.readBigUInt64LE(v + FLOW.expires) - now) / 1e9;
    if (secs < 0) return;
    const state = vals.readUInt32LE(v + FLOW.state);
    if (state === XLVS_FLOW_TCP_EST) {
      established++;
      if (left.est.length < 100_000) left.est.push(secs);
    } else if (state === XLVS_FLOW_TCP_SYN) {
      halfOpen++;
      if (left.syn.length < 100_000) left.syn.push(secs);
    } else other++;
  });
  let complete = 0;
  for (const e of fwd) if (rep.has(e)) complete++;
  return {
    entries, forward: fwd.size, reply: rep.size, complete, established, halfOpen, otherStates: other,
    halfOpenSecondsLeft: left.syn.length ? median(left.syn) : -1,
    establishedSecondsLeft: left.est.length ? median(left.est) : -1,
  };
}

export interface ConnCounts {
  active: number;
  inactive: number;
}

/** Sum of the data plane's counts over the given real slots, as `xlvsctl list` would add them. */
export function connCounts(env: FlowEnv, realIds: Iterable<number>): ConnCounts {
  const c = { active: 0, inactive: 0 };
  for (const id of realIds) {
    const v = env.dp.maps.realConns.lookup(id);
    if (!v) continue;
    // The data plane reads a count that raced below zero as zero (conns_val); so do we.
    c.active += (v.active | 0) < 0 ? 0 : v.active;
    c.inactive += (v.inactive | 0) < 0 ? 0 : v.inactive;
  }
  return c;
}

/** Empties the table from userspace (which counts nothing down) and zeroes the counts to match. */
export function resetTable(env: FlowEnv, realIds: Iterable<number>): void {
  walkFlows(env.dp.maps.flows.fd, () => undefined, true);
  for (const id of realIds) env.dp.maps.realConns.update(id, { active: 0, inactive: 0, overloaded: 0, seq: 0 });
}

export interface MapInfo {
  type: string;
  maxEntries: number;
  keyBytes: number;
  valueBytes: number;
  /** The kernel's own figure for the map's memory (bpftool's bytes_memlock). */
  bytesMemlock: number;
}

export function flowsMapInfo(env: FlowEnv): MapInfo {
  const m = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show', 'pinned', join(env.dp.pinDir, 'flows')], { encoding: 'utf8' })) as {
    type: string; max_entries: number; bytes_key: number; bytes_value: number; bytes_memlock: number;
  };
  return { type: m.type, maxEntries: m.max_entries, keyBytes: m.bytes_key, valueBytes: m.bytes_value, bytesMemlock: m.bytes_memlock };
}

/** A /proc/meminfo field in kB. */
export function meminfoKb(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) : NaN;
}
