// SPDX-License-Identifier: Apache-2.0
// The kernel's per-program run-time statistics (run_cnt, run_time_ns), to say how much of a
// connection run's CPU time xlvs's XDP programs took. Stats are switched on with BPF_ENABLE_STATS
// (libbpf bpf_enable_stats), which holds them on only while our fd is open and is reference
// counted by the kernel, rather than the kernel.bpf_stats_enabled sysctl, which another process
// could switch off under us (or we under it).

import { run } from '../../lab/proc.js';
import { lib } from '../../src/kernel/libbpf.js';
import { libc } from '../../src/kernel/libc.js';
import { BpfError } from '../../src/errors.js';
import { BenchError } from '../common/errors.js';

const enableStats = lib.enable_stats;
const close = libc.close;
/** enum bpf_stats_type: BPF_STATS_RUN_TIME. */
const BPF_STATS_RUN_TIME = 0;

export interface ProgStats {
  runCnt: number;
  runTimeNs: number;
}

/** Run-time statistics on until the returned function is called. */
export function enableRunTimeStats(): () => void {
  const fd = enableStats(BPF_STATS_RUN_TIME) as number;
  if (fd < 0) throw new BpfError('bpf_enable_stats(BPF_STATS_RUN_TIME)', -fd);
  return () => {
    close(fd);
  };
}

/** The statistics of a pinned program (bpftool reports 0/absent while stats were never on). */
export async function pinnedProgStats(pin: string): Promise<ProgStats> {
  const { stdout } = await run(['bpftool', '-j', 'prog', 'show', 'pinned', pin]);
  const j = JSON.parse(stdout) as { run_cnt?: number; run_time_ns?: number };
  if (typeof j !== 'object' || j === null) throw new BenchError(`bpftool prog show pinned ${pin}: unexpected output ${stdout.slice(0, 200)}`);
  return { runCnt: j.run_cnt ?? 0, runTimeNs: j.run_time_ns ?? 0 };
}

export function statsDelta(a: ProgStats, b: ProgStats): ProgStats {
  return { runCnt: b.runCnt - a.runCnt, runTimeNs: b.runTimeNs - a.runTimeNs };
}
