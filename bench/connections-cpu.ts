// SPDX-License-Identifier: Apache-2.0
// Where the 2 CPUs went during a run: the aggregate "cpu" line of /proc/stat before and after.
// Namespaces share it, so it covers wrk, nginx, the router's softirq work (XDP and the kernel's
// forwarding run there) and any other load on the machine alike.

import { readFileSync } from 'node:fs';
import { BenchError } from './errors.js';

/** Jiffies by kind, as /proc/stat lists them (guest time is already inside user). */
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

export interface CpuSplit {
  /** Shares of all CPUs' time over the interval, in percent. */
  userPct: number;
  systemPct: number;
  softirqPct: number;
  idlePct: number;
  /** Everything else: nice, iowait, hard irq, steal. */
  otherPct: number;
}

export function parseProcStat(text: string): CpuTimes {
  const m = /^cpu\s+(\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/m.exec(text);
  if (m === null) throw new BenchError(`/proc/stat has no aggregate cpu line: ${JSON.stringify(text.slice(0, 200))}`);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = m.slice(1, 9).map(Number) as [number, number, number, number, number, number, number, number];
  return { user, nice, system, idle, iowait, irq, softirq, steal };
}

export function readCpuTimes(): CpuTimes {
  return parseProcStat(readFileSync('/proc/stat', 'utf8'));
}

export function cpuSplit(a: CpuTimes, b: CpuTimes): CpuSplit {
  const d = (k: keyof CpuTimes): number => b[k] - a[k];
  const total = (Object.keys(a) as Array<keyof CpuTimes>).reduce((s, k) => s + d(k), 0);
  if (total <= 0) throw new BenchError(`/proc/stat did not advance between the two samples (${total} jiffies)`);
  const pct = (x: number): number => (100 * x) / total;
  return {
    userPct: pct(d('user')),
    systemPct: pct(d('system')),
    softirqPct: pct(d('softirq')),
    idlePct: pct(d('idle')),
    otherPct: pct(d('nice') + d('iowait') + d('irq') + d('steal')),
  };
}
