// SPDX-License-Identifier: Apache-2.0
// CPU time from /proc/stat, per CPU: what the forwarding benchmark divides by delivered packets.
// Busy = user + nice + system + irq + softirq (the softirq share is where veth NAPI, XDP and the
// kernel's forwarding run); idle, iowait and steal (the hypervisor's) are not ours.

import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../src/errors.js';

/** /proc/stat counts in USER_HZ ticks, 100 per second on Linux whatever CONFIG_HZ is. */
export const USER_HZ = 100;

export interface CpuTicks {
  busy: number;
  total: number;
}

/** The per-CPU lines ("cpuN ...") of a /proc/stat text, in CPU order. */
export function parseProcStat(text: string): CpuTicks[] {
  const out: CpuTicks[] = [];
  for (const line of text.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (m === null) continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    if (f.length < 8 || f.some((x) => !Number.isFinite(x))) throw new InvalidArgumentError('/proc/stat line', line, 'expected at least 8 numeric fields');
    const [user, nice, system, idle, iowait, irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
    out[Number(m[1])] = { busy: user + nice + system + irq + softirq, total: user + nice + system + idle + iowait + irq + softirq + steal };
  }
  if (out.length === 0) throw new InvalidArgumentError('/proc/stat', text.slice(0, 80), 'has no per-CPU lines');
  return out;
}

export function readCpuTicks(): CpuTicks[] {
  return parseProcStat(readFileSync('/proc/stat', 'utf8'));
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
