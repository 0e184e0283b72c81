// SPDX-License-Identifier: Apache-2.0
// Reading a running daemon's pinned maps from the benchmark, independently of the daemon: what a
// reload really changed (reals entries, tables swapped) and the kernel memory of the data plane
// (bpftool's bytes_memlock, which kernel 6.x reports as each map's memory use), inner tables
// included. Also the daemon's RSS from /proc.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lib } from '../../src/kernel/libbpf.js';
import { libc } from '../../src/kernel/libc.js';
import { BpfMap } from '../../src/kernel/map.js';
import { u32 } from '../../src/kernel/codec.js';
import { XlvsReal, XlvsSvc } from '../../src/gen/abi.js';
import { BenchError } from '../common/errors.js';

/** Opens a pinned map read-only-in-practice (we only look up), with the given codecs. */
function withPinned<T>(path: string, use: (fd: number) => T): T {
  const fd = lib.obj_get(path);
  if (fd < 0) throw new BenchError(`cannot open pinned map ${path}: errno ${-fd}`);
  try {
    return use(fd);
  } finally {
    libc.close(fd);
  }
}

export interface MapsSnapshot {
  /** real slot -> its entry as JSON (used slots only). */
  reals: Map<number, string>;
  /** service slot -> id of its inner table map. */
  tables: Map<number, number>;
  /** service slot -> its svcs entry as JSON (non-empty ones). */
  svcs: Map<number, string>;
}

const json = (v: unknown): string => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? String(x) : Buffer.isBuffer(x) ? x.toString('hex') : x));

export function snapshotMaps(pinDir: string): MapsSnapshot {
  const dir = join(pinDir, 'maps');
  const reals = withPinned(join(dir, 'reals'), (fd) => {
    const out = new Map<number, string>();
    for (const [k, v] of new BpfMap('reals', fd, u32, XlvsReal).entries()) if (v.flags !== 0) out.set(k, json(v));
    return out;
  });
  const tables = withPinned(join(dir, 'svc_tables'), (fd) => new Map(new BpfMap('svc_tables', fd, u32, u32).entries()));
  const svcs = withPinned(join(dir, 'svcs'), (fd) => {
    const out = new Map<number, string>();
    for (const [k, v] of new BpfMap('svcs', fd, u32, XlvsSvc).entries()) if (v.n_reals !== 0) out.set(k, json(v));
    return out;
  });
  return { reals, tables, svcs };
}

export interface SnapshotDiff {
  realsChanged: number[];
  tablesChanged: number[];
  svcsChanged: number[];
}

function changedKeys<V>(a: Map<number, V>, b: Map<number, V>): number[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => a.get(k) !== b.get(k)).sort((x, y) => x - y);
}

export function diffMaps(a: MapsSnapshot, b: MapsSnapshot): SnapshotDiff {
  return { realsChanged: changedKeys(a.reals, b.reals), tablesChanged: changedKeys(a.tables, b.tables), svcsChanged: changedKeys(a.svcs, b.svcs) };
}

export interface KernelMemory {
  /** bytes per pinned map name. */
  maps: Record<string, number>;
  /** the inner table maps together, and how many. */
  tables: number;
  tableCount: number;
  total: number;
}

interface BpftoolMap {
  id: number;
  name?: string;
  bytes_memlock?: number;
}

/** Kernel memory of the data plane under pinDir: every pinned map plus every inner table. */
export function kernelMemory(pinDir: string, tableIds: Iterable<number>): KernelMemory {
  const all = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8', maxBuffer: 256 << 20 })) as BpftoolMap[];
  const byId = new Map(all.map((m) => [m.id, m]));
  const maps: Record<string, number> = {};
  const dir = join(pinDir, 'maps');
  for (const name of readdirSync(dir)) {
    const m = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show', 'pinned', join(dir, name)], { encoding: 'utf8' })) as BpftoolMap;
    maps[name] = m.bytes_memlock ?? 0;
  }
  let tables = 0, tableCount = 0;
  for (const id of tableIds) {
    const m = byId.get(id);
    if (!m) throw new BenchError(`inner table map id ${id} not listed by bpftool`);
    tables += m.bytes_memlock ?? 0;
    tableCount++;
  }
  const total = Object.values(maps).reduce((s, x) => s + x, 0) + tables;
  return { maps, tables, tableCount, total };
}

export interface ProcMemory {
  rssKiB: number;
  hwmKiB: number;
}

export function procMemory(pid: number): ProcMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  // nsenter execs the daemon in place (network namespace only, no fork): the pid is node's.
  if (!/^Name:\s+node/m.test(status)) throw new BenchError(`pid ${pid} is not the node process of xlvsd: ${status.split('\n', 1)[0]}`);
  const kib = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m) throw new BenchError(`/proc/${pid}/status has no ${field}`);
    return Number(m[1]);
  };
  return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
}
