// SPDX-License-Identifier: Apache-2.0
// The benchmark report: the machine it ran on, then each section with the command that made its
// figures, rendered as bench/results/latest.md and latest.json.

import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { availableParallelism, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Section, Table } from './section.js';

export interface Machine {
  kernel: string;
  cpu: string;
  nproc: number;
  memGiB: number;
  node: string;
}

export interface Report {
  date: string;
  machine: Machine;
  /** The command that made the whole report (each section also names its own). */
  command: string;
  sections: Section[];
}

export function machineInfo(): Machine {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return {
    kernel: release(),
    cpu: model?.[1]?.trim() ?? 'unknown (no "model name" in /proc/cpuinfo)',
    nproc: availableParallelism(),
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

function renderTable(t: Table): string[] {
  const cell = (c: string | number): string => String(c).replace(/\|/g, '\\|');
  return [
    ...(t.caption !== undefined ? [t.caption, ''] : []),
    `| ${t.columns.map(cell).join(' | ')} |`,
    `|${t.columns.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...t.rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
    '',
  ];
}

export function renderSection(s: Section): string[] {
  return [
    `## ${s.title}`,
    '',
    `Command: \`${s.command}\` (${s.seconds.toFixed(0)} s).`,
    '',
    ...s.tables.flatMap(renderTable),
    ...(s.setup.length > 0 ? ['### Setup', '', ...s.setup, ''] : []),
    ...(s.notes.length > 0 ? ['### Method and notes', '', ...s.notes, ''] : []),
  ];
}

export function renderMarkdown(r: Report): string {
  const m = r.machine;
  return [
    '# xlvs benchmarks',
    '',
    `${r.date} · kernel ${m.kernel} · ${m.cpu} · ${m.nproc} CPUs · ${m.memGiB} GiB · node ${m.node}`,
    '',
    `Made by \`${r.command}\`. Every figure is from this run, on this machine; peers ran in the same run,`,
    'alternating with xlvs where a section says so. Ratios are the figures to compare (the machine is shared and noisy).',
    '',
    ...r.sections.flatMap(renderSection),
  ].join('\n');
}

/** The report in `dir`, if any (for --only runs, which replace their sections and keep the rest). */
export function readReport(dir: string): Report | undefined {
  const json = join(dir, 'latest.json');
  if (!existsSync(json)) return undefined;
  const r = JSON.parse(readFileSync(json, 'utf8')) as Partial<Report>;
  return Array.isArray(r.sections) ? (r as Report) : undefined;
}

export function writeReport(dir: string, r: Report): { md: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const md = join(dir, 'latest.md');
  const json = join(dir, 'latest.json');
  writeFileSync(md, renderMarkdown(r));
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  return { md, json };
}
