// SPDX-License-Identifier: Apache-2.0
// Where the benchmarks' time goes, from perf samples (cpu-clock: this VM has no hardware
// counters). Three modes share one recorder and one report reader:
// - profileSelf: this process, with call graphs, while it runs XDP programs through
//   BPF_PROG_TEST_RUN; read back as inclusive shares of kernel entry points (the JIT-ed program,
//   bpf_fib_lookup, hash map lookups, ...). JIT-ed programs are named in samples because
//   net.core.bpf_jit_kallsyms=1 (enableJitSymbols).
// - profileCpus: given CPUs, with call graphs, while work runs there in the kernel's softirq
//   (the packet-loop generator and the router it feeds); read back the same way as profileSelf.
// - profileDuring: every CPU for a given time while async work (a wrk run) goes on; read back by
//   process and by function. perf samples every CPU, so it also sees whatever else the machine
//   runs at the time.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../lab/proc.js';
import { ProfileError } from './errors.js';

// ---- perf report lines ----

/** One line of `perf report --children`: inclusive and self share of all samples, in %. */
export interface SymbolShare {
  symbol: string;
  children: number;
  self: number;
}

/** One line of a plain `perf report`: a share of all samples, in %. */
export interface Share {
  name: string;
  pct: number;
}

/** The share columns ("12.34%", one or two of them) and the rest of each line of a `perf report -q --stdio`. */
function perfLines(text: string): Array<{ pcts: number[]; rest: string }> {
  const out: Array<{ pcts: number[]; rest: string }> = [];
  for (const line of text.split('\n')) {
    const m = /^\s*((?:[\d.]+%\s+)+)(\S.*?)\s*$/.exec(line);
    if (m !== null) out.push({ pcts: m[1]!.split('%').map((x) => x.trim()).filter((x) => x !== '').map(Number), rest: m[2]! });
  }
  return out;
}

/** Parses `perf report --stdio --children --sort sym -q -g none` output (two columns, "[k] sym"). */
export function parsePerfChildren(text: string): SymbolShare[] {
  const out: SymbolShare[] = [];
  for (const { pcts, rest } of perfLines(text)) {
    const m = /^\[[.k]\]\s+(\S.*)$/.exec(rest);
    if (pcts.length === 2 && m !== null) out.push({ children: pcts[0]!, self: pcts[1]!, symbol: m[1]! });
  }
  return out;
}

/** Default number of rows a plain report keeps. */
const TOP = 12;

/** Parses `perf report -q --stdio --sort X` lines ("  12.34%  name"); keeps the first `top`, biggest first. */
export function parsePerfReport(text: string, top = TOP): Share[] {
  return perfLines(text)
    .filter((l) => l.pcts.length === 1)
    .map((l) => ({ name: l.rest.replace(/\s+/g, ' '), pct: l.pcts[0]! }))
    .sort((a, b) => b.pct - a.pct)
    .slice(0, top);
}

/** The inclusive share of the first symbol matching `re` (undefined when none sampled). */
export function inclusive(shares: readonly SymbolShare[], re: RegExp): SymbolShare | undefined {
  return shares.find((s) => re.test(s.symbol));
}

// ---- recording ----

/** How long perf may take to write its data and exit after SIGINT before it is killed. */
const STOP_TIMEOUT_MS = 15_000;

interface Stopped {
  stderr: string;
  /** perf had exited before it was asked to stop (it failed to start or to attach). */
  early: boolean;
  code: number | null;
}

/** `perf record` as a child process, stopped one way: SIGINT, a bounded wait, SIGKILL. */
class PerfRecording {
  private stderr = '';
  private stopping: Promise<Stopped> | undefined;
  private readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess) {
    child.stderr!.on('data', (b: Buffer) => void (this.stderr += b.toString()));
    child.on('error', (e) => void (this.stderr += String(e)));
    this.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  }

  static start(args: readonly string[], data: string): PerfRecording {
    return new PerfRecording(spawn('perf', ['record', ...args, '-o', data], { stdio: ['ignore', 'ignore', 'pipe'] }));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Stops perf (once; later calls get the same answer). Throws only when perf would not die. */
  stop(): Promise<Stopped> {
    this.stopping ??= (async () => {
      const early = !this.running;
      if (!early) this.child.kill('SIGINT');
      // Unref'd: a stopped perf must not leave a timer holding the process for STOP_TIMEOUT_MS.
      const code = await Promise.race([this.exited, sleep(STOP_TIMEOUT_MS, undefined, { ref: false }).then(() => 'timeout' as const)]);
      if (code === 'timeout') {
        this.child.kill('SIGKILL');
        await this.exited;
        throw new ProfileError(`perf record did not stop within ${STOP_TIMEOUT_MS / 1000} s of SIGINT`);
      }
      return { stderr: this.stderr.trim(), early, code };
    })();
    return this.stopping;
  }
}

function earlyExit(s: Stopped): ProfileError {
  return new ProfileError(`perf record exited early (${s.code}): ${s.stderr || 'no message'}`);
}

async function perfReport(data: string, args: readonly string[]): Promise<string> {
  return (await run(['perf', 'report', '-i', data, '--stdio', '-q', ...args], 60_000)).stdout;
}

/** Runs fn with a fresh perf.data path, removed afterwards. */
async function withPerfData<T>(fn: (data: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'xlvs-perf-'));
  try {
    return await fn(join(dir, 'perf.data'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- this process ----

/**
 * Samples this process while `work` runs (synchronously, on the main thread). Programs loaded
 * before the call are only named if bpf_jit_kallsyms was 1 when they were JIT-ed: call
 * enableJitSymbols() before loading them.
 */
export async function profileSelf(work: () => void, frequency = 10_000): Promise<SymbolShare[]> {
  return withPerfData(async (data) => {
    const rec = PerfRecording.start(['-q', '-e', 'cpu-clock', '-F', String(frequency), '-g', '-p', String(process.pid)], data);
    // perf attaches within a few hundred ms; the work is synchronous, so wait first.
    await sleep(700);
    if (!rec.running) throw earlyExit(await rec.stop());
    let stopped: Stopped;
    try {
      work();
    } finally {
      stopped = await rec.stop();
    }
    const shares = parsePerfChildren(await perfReport(data, ['--children', '--sort', 'sym', '-g', 'none', '--percent-limit', '0.2']));
    if (shares.length === 0) throw new ProfileError(`perf report gave no samples (perf record: ${stopped.stderr || 'no message'})`);
    return shares;
  });
}

/**
 * Samples the given CPUs until `done` settles (work already running there, in the kernel's
 * softirq: no process of ours holds it), with call graphs; the same shares as profileSelf.
 * The work should outlast perf's start-up (up to a second) by the time it is to be sampled.
 */
export async function profileCpus(cpus: readonly number[], done: Promise<unknown>, frequency = 10_000): Promise<SymbolShare[]> {
  if (cpus.length === 0) throw new ProfileError('no CPU to profile: the work named none it ran on');
  return withPerfData(async (data) => {
    const rec = PerfRecording.start(['-q', '-C', cpus.join(','), '-e', 'cpu-clock', '-F', String(frequency), '-g'], data);
    let stopped: Stopped;
    try {
      await done;
    } finally {
      stopped = await rec.stop();
    }
    if (stopped.early) throw earlyExit(stopped);
    const shares = parsePerfChildren(await perfReport(data, ['--children', '--sort', 'sym', '-g', 'none', '--percent-limit', '0.2']));
    if (shares.length === 0) throw new ProfileError(`perf report gave no samples on CPU ${cpus.join(',')} (perf record: ${stopped.stderr || 'no message'})`);
    return shares;
  });
}

/** Turns JIT symbols on (needed before loading the programs to profile); returns the old value. */
export function enableJitSymbols(): string {
  const old = readFileSync(KALLSYMS, 'utf8').trim();
  if (old !== '1') writeFileSync(KALLSYMS, '1');
  return old;
}

export function restoreJitSymbols(old: string): void {
  if (old !== '1') writeFileSync(KALLSYMS, old);
}

const KALLSYMS = '/proc/sys/net/core/bpf_jit_kallsyms';

// ---- every CPU ----

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

/** Sample rate of the system-wide mode: enough samples in a few seconds, little enough not to weigh on the run. */
const SYSTEM_FREQ = 499;
const BPF_PROG = /\bbpf_prog_[0-9a-f]+_/;
/** The run's own processes; swapper is the idle task, which takes the softirq work that lands on an idle CPU. */
const OUR_COMMS = /^(wrk|nginx|ksoftirqd\/\d+|swapper)$/;

/** Profiles all CPUs for `seconds` while `during` runs; returns both. */
export async function profileDuring<T>(seconds: number, during: () => Promise<T>): Promise<{ result: T; profile: Profile }> {
  return withPerfData(async (data) => {
    const args = ['-a', '-F', String(SYSTEM_FREQ)];
    const rec = PerfRecording.start(args, data);
    let result: T;
    let stopped: Stopped;
    try {
      [result, stopped] = await Promise.all([during(), sleep(seconds * 1000).then(() => rec.stop())]);
    } finally {
      // On a failure of `during`, perf is stopped now rather than left to its timer.
      await rec.stop();
    }
    if (stopped.early) throw earlyExit(stopped);
    const samples = /(\d+) samples/.exec(stopped.stderr);
    const byComm = parsePerfReport(await perfReport(data, ['--sort', 'comm']));
    if (byComm.length === 0) throw new ProfileError(`perf recorded nothing usable (perf record ${args.join(' ')}: ${stopped.stderr || 'no message'})`);
    // Functions only of the processes the run is made of (the rest of the machine is in byComm).
    const ours = byComm.map((c) => c.name).filter((n) => OUR_COMMS.test(n));
    const symbols = ours.length > 0 ? parsePerfReport(await perfReport(data, ['--comms', ours.join(','), '--percentage', 'relative', '--sort', 'sym']), Infinity) : [];
    return {
      result,
      profile: {
        command: `perf record ${args.join(' ')} -o perf.data -- <wrk run>`,
        samples: Number(samples?.[1] ?? NaN),
        byComm,
        symbolComms: ours,
        bySymbol: symbols.slice(0, TOP),
        bpfPrograms: symbols.filter((x) => BPF_PROG.test(x.name)),
      },
    };
  });
}
