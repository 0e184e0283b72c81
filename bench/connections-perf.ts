// SPDX-License-Identifier: Apache-2.0
// A system-wide perf profile of one extra run (not counted in the figures): which processes and
// which functions the CPUs spent the run in, to say where a connection's time goes through xlvs.
// perf samples every CPU, so it also sees whatever else the machine runs at the time.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../src/lab/proc.js';
import { BenchError } from './errors.js';

export interface Share {
  name: string;
  pct: number;
}

export interface Profile {
  command: string;
  samples: number;
  byComm: Share[];
  /** The processes bySymbol covers: the run's own (wrk, nginx, the softirq threads, idle). */
  symbolComms: string[];
  bySymbol: Share[];
  /** Every BPF program perf saw in those processes (JITed programs are named bpf_prog_<tag>_<name>). */
  bpfPrograms: Share[];
}

/** Sample rate: enough samples in a few seconds, little enough not to weigh on the run. */
const FREQ = 499;
const TOP = 12;
/** The run's own processes; swapper is the idle task, which takes the softirq work that lands on an idle CPU. */
const BPF_PROG = /\bbpf_prog_[0-9a-f]+_/;
const OUR_COMMS = /^(wrk|nginx|ksoftirqd\/\d+|swapper)$/;

/** Parses `perf report -q --stdio --sort X` lines ("  12.34%  name"); keeps the first `top`. */
export function parsePerfReport(text: string, top = TOP): Share[] {
  const out: Share[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*([0-9.]+)%\s+(.+?)\s*$/.exec(line);
    if (m !== null) out.push({ name: m[2]!.replace(/\s+/g, ' '), pct: Number(m[1]) });
  }
  return out.sort((a, b) => b.pct - a.pct).slice(0, top);
}

/** Profiles all CPUs for `seconds` while `during` runs; returns both. */
export async function profileDuring<T>(seconds: number, during: () => Promise<T>): Promise<{ result: T; profile: Profile }> {
  const dir = mkdtempSync(join(tmpdir(), 'xlvs-bench-perf-'));
  try {
    const data = join(dir, 'perf.data');
    const argv = ['perf', 'record', '-a', '-F', String(FREQ), '-o', data, '--', 'sleep', String(seconds)];
    const [rec, result] = await Promise.all([run(argv, (seconds + 30) * 1000), during()]);
    const samples = /(\d+) samples/.exec(rec.stderr + rec.stdout);
    const report = async (args: string[], top = TOP): Promise<Share[]> =>
      parsePerfReport((await run(['perf', 'report', '-q', '--stdio', '-i', data, ...args], 60_000)).stdout, top);
    const byComm = await report(['--sort', 'comm']);
    if (byComm.length === 0) throw new BenchError(`perf recorded nothing usable (${argv.join(' ')})`);
    // Functions only of the processes the run is made of (the rest of the machine is in byComm).
    const ours = byComm.map((c) => c.name).filter((n) => OUR_COMMS.test(n));
    const symbols = ours.length > 0 ? await report(['--comms', ours.join(','), '--percentage', 'relative', '--sort', 'sym'], Infinity) : [];
    return {
      result,
      profile: {
        command: argv.slice(0, -3).join(' ').replace(data, 'perf.data') + ' -- <wrk run>',
        samples: Number(samples?.[1] ?? NaN),
        byComm,
        symbolComms: ours,
        bySymbol: symbols.slice(0, TOP),
        bpfPrograms: symbols.filter((x) => BPF_PROG.test(x.name)),
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
