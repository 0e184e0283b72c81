// SPDX-License-Identifier: Apache-2.0
// Where the time goes, by kernel symbol: `perf record -e cpu-clock` on this process while the
// generator sends. The whole path (generator, the router's XDP or stack, the veth hops, the sink)
// runs in this thread's context: the receive softirqs the generator raises run when its batch
// re-enables bottom halves, inside the same system call. So a per-process profile holds exactly
// the path's work and none of the other processes on the machine.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../src/lab/proc.js';
import { stopChild, hasExited } from '../src/lab/child.js';
import { XlvsError } from '../src/errors.js';

export interface SymbolShare {
  symbol: string;
  /** Share of the samples, in percent. */
  pct: number;
}

export interface Profile {
  /** perf's own count, as it prints it ("2K"). */
  samples: string;
  top: SymbolShare[];
}

/** The sample count and the lines "  12.34%  [k] symbol" of `perf report --stdio --sort sym -g none`. */
export function parsePerfReport(text: string, limit: number): Profile {
  const samples = /^# Samples: (\S+)/m.exec(text)?.[1] ?? '?';
  const out: SymbolShare[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*([\d.]+)%\s+\[([k.])\]\s+(\S.*?)\s*$/.exec(line);
    if (m === null) continue;
    // JITed BPF programs are named bpf_prog_<tag>_<name>: keep the name, the tag is noise.
    const sym = m[3]!.replace(/^bpf_prog_[0-9a-f]{16}_/, 'bpf_prog_');
    out.push({ symbol: `${m[2] === 'k' ? '' : '[user] '}${sym}`, pct: Number(m[1]) });
  }
  return { samples, top: out.sort((a, b) => b.pct - a.pct).slice(0, limit) };
}

const PERF_START_MS = 400;
const PERF_STOP_MS = 10_000;

/**
 * Profiles this process while `during` runs (synchronously: it must keep the thread busy, as
 * the generator does). Returns the top symbols, or throws E_PERF with perf's own words.
 */
export async function profileSelf(during: () => void, limit = 12): Promise<Profile> {
  const dir = mkdtempSync(join(tmpdir(), 'xlvs-bench-perf-'));
  const data = join(dir, 'perf.data');
  try {
    const perf = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', '4999', '-p', String(process.pid), '-o', data], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    perf.stderr.on('data', (b: Buffer) => (err += b.toString()));
    await new Promise((r) => setTimeout(r, PERF_START_MS));
    if (hasExited(perf)) throw new XlvsError('E_PERF', `perf record exited at once: ${err.trim()}`);
    try {
      during();
    } finally {
      // SIGINT: perf writes its data and exits; stopChild is the bounded fallback.
      if (!hasExited(perf)) {
        const exited = once(perf, 'exit');
        perf.kill('SIGINT');
        await Promise.race([exited, new Promise((r) => setTimeout(r, PERF_STOP_MS))]);
      }
      await stopChild(perf);
    }
    const { stdout } = await run(['perf', 'report', '-i', data, '--stdio', '--no-children', '--sort', 'sym', '-g', 'none', '--percent-limit', '0.5'], 60_000);
    const top = parsePerfReport(stdout, limit);
    if (top.top.length === 0) throw new XlvsError('E_PERF', `perf recorded no sample of this process: ${err.trim()}`);
    return top;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
