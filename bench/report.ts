// SPDX-License-Identifier: Apache-2.0
// The benchmark report: the machine it ran on, and each figure with the command that made it,
// rendered as bench/results/latest.md and latest.json.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';
import { join } from 'node:path';

export interface Machine {
  kernel: string;
  cpu: string;
  nproc: number;
  node: string;
}

export interface CaseFigure {
  /** Stable identifier: floor, established, return, non-vip, new-rr, new-wlc, new-mh. */
  name: string;
  program: string;
  verdict: string;
  /** repeat: the kernel's average over `repeat` runs of one frame; per-call: see PerPacketReport.method. */
  method: 'repeat' | 'per-call';
  what: string;
  runsNs: number[];
  medianNs: number;
  minNs: number;
  maxNs: number;
  /** medianNs / the floor's medianNs. */
  ratio: number;
}

export interface PerPacketReport {
  date: string;
  machine: Machine;
  command: string;
  config: { repeat: number; runs: number; calls: number };
  method: string;
  cases: CaseFigure[];
}

export function machineInfo(): Machine {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return { kernel: release(), cpu: model?.[1]?.trim() ?? 'unknown (no "model name" in /proc/cpuinfo)', nproc: availableParallelism(), node: process.version };
}

const fmt = (n: number): string => n.toFixed(1);

export function renderMarkdown(r: PerPacketReport): string {
  const rows = r.cases.map((c) =>
    `| ${c.name} | ${c.program} | ${c.verdict} | ${c.method} | ${fmt(c.medianNs)} | ${fmt(c.minNs)} – ${fmt(c.maxNs)} | ${c.ratio.toFixed(2)} |`);
  return [
    '# xlvs benchmarks',
    '',
    `${r.date} · kernel ${r.machine.kernel} · ${r.machine.cpu} · nproc ${r.machine.nproc} · node ${r.machine.node}`,
    '',
    '## Per-packet cost (BPF_PROG_TEST_RUN)',
    '',
    `Command: \`${r.command}\` (every figure below). ${r.config.runs} runs per case, alternating cases within`,
    `each run; repeat ${r.config.repeat} per run for "repeat" cases, ${r.config.calls} calls per run for "per-call" cases.`,
    'Median of the runs, spread min – max; ratio = median / the floor\'s median.',
    '',
    '| case | program | verdict | method | ns/packet | spread (ns) | × floor |',
    '|---|---|---|---|---:|---:|---:|',
    ...rows,
    '',
    '### How',
    '',
    ...r.method.split('\n'),
    '',
    ...r.cases.map((c) => `- **${c.name}**: ${c.what}`),
    '',
  ].join('\n');
}

export function writeReport(dir: string, r: PerPacketReport): { md: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const md = join(dir, 'latest.md');
  const json = join(dir, 'latest.json');
  writeFileSync(md, renderMarkdown(r));
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  return { md, json };
}
