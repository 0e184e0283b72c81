// SPDX-License-Identifier: Apache-2.0
// Time to build one Maglev table (src/sched/maglev.ts through buildTable, 65537 slots) and to
// program it (create the inner map, fill it in one batch, swap it into svc_tables: what the
// reconciler does per mh service), for 8, 100 and 1000 reals. The real xlvs object is loaded with
// a temporary pin dir (nothing attached: no packets involved); runs alternate between sizes.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { TestDataplane } from '../../testing/fixture.js';
import { buildTable } from '../../src/sched/table.js';
import { createTableMap } from '../../src/dataplane/table-map.js';
import { closeMap } from '../../src/kernel/inner-map.js';
import { BenchError } from '../common/errors.js';
import { fromRoot } from '../../src/paths.js';

const ROOT = fromRoot();
export const MH_SIZE = 65537;

export interface MaglevFigure {
  reals: number;
  buildMs: number[];
  programMs: number[];
}

export function runMaglev(o: { sizes: number[]; runs: number }): MaglevFigure[] {
  const dp = TestDataplane.load(join(ROOT, 'build/xlvs.bpf.o'), `/sys/fs/bpf/xlvs-test-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const figs = o.sizes.map((n) => ({ reals: n, buildMs: [] as number[], programMs: [] as number[] }));
    for (let run = 0; run < o.runs; run++) {
      for (const f of figs) {
        // A new seed each run: the table is really rebuilt, not a warm copy of the last one.
        const reals = Array.from({ length: f.reals }, (_, i) => ({ id: `10.${80 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}:80`, weight: 1 + (i % 3) }));
        const t0 = performance.now();
        const table = buildTable('mh', reals, { seed: run + 1, mhTableSize: MH_SIZE });
        const t1 = performance.now();
        const inner = createTableMap('xlvs_tbench', table, reals.map((_, i) => i));
        try {
          dp.maps.svcTables.update(0, inner.fd);
        } finally {
          closeMap(inner);
        }
        const t2 = performance.now();
        if (table.length !== MH_SIZE || new Set(table).size !== f.reals) throw new BenchError(`mh table for ${f.reals} reals: ${table.length} slots, ${new Set(table).size} reals used`);
        f.buildMs.push(t1 - t0);
        f.programMs.push(t2 - t1);
      }
    }
    return figs;
  } finally {
    dp.close();
  }
}
