// SPDX-License-Identifier: Apache-2.0
// Where the time goes: the kernel's per-program run time (run_time_ns / run_cnt) while run-time
// statistics are on, and each program's size. Statistics are switched on with BPF_ENABLE_STATS
// (libbpf bpf_enable_stats), which holds them on only while its fd is open and counts its users,
// rather than the global kernel.bpf_stats_enabled sysctl, which another run could switch off
// under us or we could leave on. They cost two clock reads per program run, so the measured
// rounds run without them; this is a separate pass.

import { execFileSync } from 'node:child_process';
import { check, lib } from '../../src/kernel/libbpf.js';
import { libc } from '../../src/kernel/libc.js';
import { progInfoOf } from '../../src/kernel/obj-info.js';
import { BpfError } from '../../src/errors.js';

const bpfEnableStats = lib.enable_stats;
const BPF_STATS_RUN_TIME = 0;

export interface ProgSnapshot {
  id: number;
  name: string;
  runTimeNs: number;
  runCnt: number;
  /** Instructions after the verifier's rewrites (bytes_xlated / 8). */
  insns: number;
  jitedBytes: number;
}

export function progIdOfFd(fd: number): number {
  return progInfoOf(fd, 'prog info').id;
}

/** The id of the XDP program attached to dev in the namespace at nsPath (bpftool net). */
export function xdpProgId(nsPath: string, dev: string): number {
  const out = execFileSync('nsenter', [`--net=${nsPath}`, '--', 'bpftool', '-j', 'net', 'show', 'dev', dev], { encoding: 'utf8' });
  const j = JSON.parse(out) as Array<{ xdp?: Array<{ devname: string; id: number }> }>;
  const x = j[0]?.xdp?.find((e) => e.devname === dev);
  if (x === undefined) throw new BpfError('bpftool net show', 2, `no XDP program on ${dev} in ${nsPath}`);
  return x.id;
}

export function progSnapshot(id: number): ProgSnapshot {
  const j = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'id', String(id)], { encoding: 'utf8' })) as {
    name: string; run_time_ns?: number; run_cnt?: number; bytes_xlated: number; bytes_jited?: number;
  };
  return { id, name: j.name, runTimeNs: j.run_time_ns ?? 0, runCnt: j.run_cnt ?? 0, insns: j.bytes_xlated / 8, jitedBytes: j.bytes_jited ?? 0 };
}

/** Runs fn with run-time statistics on; they go off again when it returns or throws. */
export async function withRunTimeStats<T>(fn: () => Promise<T>): Promise<T> {
  const fd = check('bpf_enable_stats(BPF_STATS_RUN_TIME)', bpfEnableStats(BPF_STATS_RUN_TIME) as number);
  try {
    return await fn();
  } finally {
    libc.close(fd);
  }
}

export interface ProgRun {
  name: string;
  runs: number;
  nsPerRun: number;
  insns: number;
  jitedBytes: number;
}

/** Runs and ns per run between two snapshots of the same program. */
export function progRun(a: ProgSnapshot, b: ProgSnapshot): ProgRun {
  const runs = b.runCnt - a.runCnt;
  return { name: b.name, runs, nsPerRun: runs > 0 ? (b.runTimeNs - a.runTimeNs) / runs : 0, insns: b.insns, jitedBytes: b.jitedBytes };
}
