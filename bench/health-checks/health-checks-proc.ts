// SPDX-License-Identifier: Apache-2.0
// One process's own CPU time from /proc/PID/stat: utime + stime, what the kernel charged to that
// process (all its threads: libuv's pool too), and separately cutime + cstime, what its reaped
// children used (the exec checks' programs). Machine-wide counters would mix in the target server
// and the kernel's softirq work; these do not.

import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../../src/errors.js';
import { USER_HZ } from '../common/cpu.js';

export interface ProcCpu {
  /** Ticks (USER_HZ) the process itself used: user + system. */
  self: number;
  /** Ticks its waited-for children used: user + system. */
  children: number;
}

/** Parses a /proc/PID/stat line. The command name is in parentheses and may hold spaces or ')'. */
export function parsePidStat(text: string): ProcCpu {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new InvalidArgumentError('/proc/PID/stat', text.slice(0, 80), 'has no ")" after the command name');
  // Field 3 (state) is rest[0]; utime, stime, cutime, cstime are fields 14..17.
  const rest = text.slice(close + 1).trim().split(/\s+/);
  const f = rest.slice(11, 15).map(Number);
  if (f.length !== 4 || f.some((x) => !Number.isInteger(x) || x < 0)) throw new InvalidArgumentError('/proc/PID/stat', text.slice(0, 120), 'fields 14..17 are not tick counts');
  return { self: f[0]! + f[1]!, children: f[2]! + f[3]! };
}

export function readPidCpu(pid: number): ProcCpu {
  return parsePidStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/** Ticks over a wall-clock interval as a percentage of one CPU. */
export function pctOfOneCore(ticks: number, ms: number): number {
  if (!(ms > 0)) throw new InvalidArgumentError('ms', ms, 'must be positive');
  return (100 * (ticks / USER_HZ) * 1000) / ms;
}
