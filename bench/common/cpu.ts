// SPDX-License-Identifier: Apache-2.0
// CPU time from /proc/stat, read once and seen two ways: per CPU, the busy time the forwarding
// benchmark divides by delivered packets; in all, the split by kind (user, system, softirq, idle)
// the connections benchmark reports. Namespaces share /proc/stat, so either view covers the
// generator, wrk, nginx, the router's softirq work (XDP and the kernel's forwarding run there)
// and anything else the machine runs at the time.

import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../../src/errors.js';
import { BenchError } from './errors.js';

/** /proc/stat counts in USER_HZ ticks, 100 per second on Linux whatever CONFIG_HZ is. */
export const USER_HZ = 100;

/** Ticks by kind, as /proc/stat lists them (guest time is already inside user). */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

export interface ProcStat {
  /** The aggregate "cpu" line: all CPUs together. */
  all: CpuTimes;
  /** The "cpuN" lines, in CPU order. */
  perCpu: CpuTimes[];
}

/** Parses the "cpu" and "cpuN" lines of a /proc/stat text; both must be there. */
export function parseProcStat(text: string): ProcStat {
  let all: CpuTimes | undefined;
  const perCpu: CpuTimes[] = [];
  for (const line of text.split('\n')) {
    const m = /^cpu(\d*)\s+(.*)$/.exec(line);
    if (m === null) continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    if (f.length < 8 || f.some((x) => !Number.isFinite(x))) throw new InvalidArgumentError('/proc/stat line', line, 'expected at least 8 numeric fields');
    const [user, nice, system, idle, iowait, irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
    const t = { user, nice, system, idle, iowait, irq, softirq, steal };
    if (m[1] === '') all = t;
    else perCpu[Number(m[1])] = t;
  }
  if (all === undefined) throw new InvalidArgumentError('/proc/stat', text.slice(0, 80), 'has no aggregate cpu line');
  if (perCpu.length === 0) throw new InvalidArgumentError('/proc/stat', text.slice(0, 80), 'has no per-CPU lines');
  return { all, perCpu };
}

export function readProcStat(): ProcStat {
  return parseProcStat(readFileSync('/proc/stat', 'utf8'));
}

// ---- per CPU: busy time ----

export interface CpuTicks {
  busy: number;
  total: number;
}

/**
 * Busy = user + nice + system + irq + softirq (the softirq share is where veth NAPI, XDP and the
 * kernel's forwarding run); idle, iowait and steal (the hypervisor's) are not ours.
 */
export function cpuTicks(t: CpuTimes): CpuTicks {
  return { busy: t.user + t.nice + t.system + t.irq + t.softirq, total: t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal };
}

export function readCpuTicks(): CpuTicks[] {
  return readProcStat().perCpu.map(cpuTicks);
}

export interface CpuUse {
  /** Busy ns per CPU over the interval. */
  busyNs: number[];
  /** Busy ns summed over CPUs. */
  totalBusyNs: number;
}

/** Busy time between two readings, per CPU and in all. */
export function cpuBetween(a: readonly CpuTicks[], b: readonly CpuTicks[]): CpuUse {
  if (a.length !== b.length) throw new InvalidArgumentError('CPU count', `${a.length} then ${b.length}`, 'changed between readings');
  const busyNs = b.map((x, i) => ((x.busy - a[i]!.busy) * 1e9) / USER_HZ);
  return { busyNs, totalBusyNs: busyNs.reduce((s, x) => s + x, 0) };
}

// ---- in all: split by kind ----

export interface CpuSplit {
  /** Shares of all CPUs' time over the interval, in percent. */
  userPct: number;
  systemPct: number;
  softirqPct: number;
  idlePct: number;
  /** Everything else: nice, iowait, hard irq, steal. */
  otherPct: number;
}

export function readCpuTimes(): CpuTimes {
  return readProcStat().all;
}

export function cpuSplit(a: CpuTimes, b: CpuTimes): CpuSplit {
  const d = (k: keyof CpuTimes): number => b[k] - a[k];
  const total = (Object.keys(a) as Array<keyof CpuTimes>).reduce((s, k) => s + d(k), 0);
  if (total <= 0) throw new BenchError(`/proc/stat did not advance between the two samples (${total} ticks)`);
  const pct = (x: number): number => (100 * x) / total;
  return {
    userPct: pct(d('user')),
    systemPct: pct(d('system')),
    softirqPct: pct(d('softirq')),
    idlePct: pct(d('idle')),
    otherPct: pct(d('nice') + d('iowait') + d('irq') + d('steal')),
  };
}
