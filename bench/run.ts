// SPDX-License-Identifier: Apache-2.0
// `make bench`: runs every benchmark section in order and writes bench/results/latest.md + .json.
// `--only a,b` runs those sections and keeps the others from the existing report.

import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { InvalidArgumentError } from '../src/errors.js';
import { machineInfo, readReport, writeReport, type Report } from './common/report.js';
import type { Section } from './common/section.js';
import { SECTIONS } from './sections.js';

interface Args {
  only: string[] | undefined;
  out: string;
}

export function parseArgs(argv: string[]): Args {
  const a: Args = { only: undefined, out: 'bench/results' };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i]!, argv[i + 1]];
    if (value === undefined) throw new InvalidArgumentError(flag, value, 'needs a value');
    if (flag === '--out') a.out = value;
    else if (flag === '--only') {
      const ids = value.split(',');
      const known = SECTIONS.map((s) => s.id);
      const bad = ids.find((id) => !known.includes(id));
      if (bad !== undefined) throw new InvalidArgumentError('--only', bad, `expected a comma-separated list of ${known.join(', ')}`);
      a.only = ids;
    } else throw new InvalidArgumentError('argument', flag, 'expected --only IDS or --out DIR');
  }
  return a;
}

async function main(): Promise<void> {
  const log = pino({ level: 'info' }, pino.destination(2));
  const a = parseArgs(process.argv.slice(2));
  const previous = a.only !== undefined ? readReport(a.out) : undefined;
  const t0 = Date.now();
  const fresh = new Map<string, Section>();
  for (const runner of SECTIONS) {
    if (a.only !== undefined && !a.only.includes(runner.id)) continue;
    log.info({ section: runner.id }, 'benchmark section starting');
    const s = await runner.run({ log, smoke: false });
    fresh.set(runner.id, s);
    log.info({ section: runner.id, seconds: Math.round(s.seconds) }, 'benchmark section done');
  }
  const sections = SECTIONS.map((r) => fresh.get(r.id) ?? previous?.sections.find((s) => s.id === r.id)).filter((s): s is Section => s !== undefined);
  const report: Report = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    command: a.only === undefined ? 'make bench' : `node dist/bench/run.js --only ${a.only.join(',')} (other sections from the previous report)`,
    sections,
  };
  const files = writeReport(a.out, report);
  log.info({ ...files, seconds: Math.round((Date.now() - t0) / 1000) }, 'report written');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    pino({ level: 'error' }, pino.destination(2)).fatal({ err: e }, 'benchmark failed');
    process.exitCode = 1;
  });
}
