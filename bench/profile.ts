// SPDX-License-Identifier: Apache-2.0
// Where an XDP program's time goes: perf samples (cpu-clock: this VM has no hardware counters)
// of this process while it runs the program through BPF_PROG_TEST_RUN, with call graphs, read
// back as inclusive shares of kernel entry points (the JIT-ed program, bpf_fib_lookup, hash map
// lookups, ...). The JIT-ed programs are named in samples because net.core.bpf_jit_kallsyms=1.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProfileError } from './errors.js';

/** One line of `perf report --children`: inclusive and self share of all samples, in %. */
export interface SymbolShare {
  symbol: string;
  children: number;
  self: number;
}

/** Parses `perf report --stdio --children --sort sym -q -g none` output. */
export function parsePerfChildren(text: string): SymbolShare[] {
  const out: SymbolShare[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*([\d.]+)%\s+([\d.]+)%\s+\[[.k]\]\s+(\S.*?)\s*$/.exec(line);
    if (m) out.push({ children: Number(m[1]), self: Number(m[2]), symbol: m[3]! });
  }
  return out;
}

const KALLSYMS = '/proc/sys/net/core/bpf_jit_kallsyms';

/**
 * Samples this process while `work` runs (synchronously, on the main thread). Programs loaded
 * before the call are only named if bpf_jit_kallsyms was 1 when they were JIT-ed: call
 * enableJitSymbols() before loading them.
 */
export async function profileSelf(work: () => void, frequency = 10_000): Promise<SymbolShare[]> {
  const dir = mkdtempSync(join(tmpdir(), 'xlvs-perf-'));
  const data = join(dir, 'perf.data');
  try {
    const perf = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', String(frequency), '-g', '-p', String(process.pid), '-o', data], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    perf.stderr.on('data', (b: Buffer) => void (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => perf.on('exit', (code) => resolve(code)));
    perf.on('error', (e) => void (stderr += String(e)));
    // perf attaches within a few hundred ms; the work is synchronous, so wait first.
    await sleep(700);
    if (perf.exitCode !== null) throw new ProfileError(`perf record exited early (${perf.exitCode}): ${stderr.trim()}`);
    try {
      work();
    } finally {
      perf.kill('SIGINT');
    }
    const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') {
      perf.kill('SIGKILL');
      throw new ProfileError('perf record did not stop within 15 s of SIGINT');
    }
    const text = execFileSync('perf', ['report', '-i', data, '--stdio', '--children', '--sort', 'sym', '-q', '-g', 'none', '--percent-limit', '0.2'], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
    const shares = parsePerfChildren(text);
    if (shares.length === 0) throw new ProfileError(`perf report gave no samples (perf record: ${stderr.trim() || 'no message'})`);
    return shares;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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

/** The inclusive share of the first symbol matching `re` (0 when none sampled). */
export function inclusive(shares: readonly SymbolShare[], re: RegExp): SymbolShare | undefined {
  return shares.find((s) => re.test(s.symbol));
}
