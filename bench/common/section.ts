// SPDX-License-Identifier: Apache-2.0
// One part of the benchmark report (per-packet cost, forwarding rate, ...). Every benchmark in
// bench/ exports a SectionRunner; bench/run.ts runs them in order and bench/common/report.ts renders the
// sections it gets into bench/results/latest.md and latest.json.

import type pino from 'pino';

export interface Table {
  /** Shown above the table, optional. */
  caption?: string;
  columns: string[];
  /** Cells as they are to be printed (numbers are printed as given). */
  rows: Array<Array<string | number>>;
}

export interface Section {
  /** Stable identifier, also the key in latest.json: per-packet, forwarding, connections, flow-scale, control-plane. */
  id: string;
  title: string;
  /** The command that made every figure of this section (reproducible on its own). */
  command: string;
  /** How xlvs and each peer were set up for this run (markdown lines). */
  setup: string[];
  tables: Table[];
  /** Method, repeats, spread, caveats; where xlvs loses, where the time goes (markdown lines). */
  notes: string[];
  /** Every raw figure, for latest.json. */
  data: unknown;
  /** Wall-clock seconds the section took. */
  seconds: number;
}

export interface SectionOptions {
  log: pino.Logger;
  /**
   * Smoke mode (make test): the same code path with the smallest sizes that still exercise every
   * case, so the benchmark does not rot. Full mode is what `make bench` publishes.
   */
  smoke: boolean;
}

export interface SectionRunner {
  id: string;
  title: string;
  run(o: SectionOptions): Promise<Section>;
}

/**
 * A SectionRunner that measures (full or smoke sizes), times the measurement and renders the
 * result as its Section; `report` may log the headline figures.
 */
export function timedSection<R>(
  id: string,
  title: string,
  measure: (o: SectionOptions) => Promise<R>,
  render: (r: R, seconds: number) => Section,
  report?: (r: R, log: pino.Logger) => void,
): SectionRunner {
  return {
    id,
    title,
    async run(o) {
      const t0 = Date.now();
      const r = await measure(o);
      report?.(r, o.log);
      return render(r, (Date.now() - t0) / 1000);
    },
  };
}
