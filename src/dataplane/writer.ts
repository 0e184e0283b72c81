// SPDX-License-Identifier: Apache-2.0
// Carries a write plan (write-plan.ts) out on the loaded maps, step by step in its order, and
// counts the entries written per map (the "writes" of the "data plane reconciled" log line).
// The only part of the data-plane writes that touches the kernel. It gives the event loop a turn
// between batches (model/yielder.ts), and hands the tables of removed services to the janitor
// (table-janitor.ts), which drops them in the background.
//
// Why batches matter beyond syscall count: an update of a map-of-maps (svc_tables) makes the
// kernel wait for an RCU grace period before it returns (so that no program still uses the old
// inner map), ~10 ms here. One update per service made 10,000 services take minutes; one batch
// waits once, and on libuv's thread pool (the event loop does not wait with it).

import { closeMap, createU32Array } from '../kernel/inner-map.js';
import { Yielder } from '../model/yielder.js';
import type { Maps } from './handles.js';
import type { TableJanitor } from './table-janitor.js';
import type { MapEntries, MapName, WriteStep } from './write-plan.js';

/** Entries per batch: bounds the buffers (and, for svc_tables, the inner-map fds held open). */
export const BATCH = 4096;

interface Writable<K, V> {
  readonly name: string;
  updateBatch(entries: [K, V][]): void;
  delete(k: K): boolean;
}

/** The maps a plan names, by name. */
function byName(m: Maps): { [N in MapName]: Writable<MapEntries[N][0], MapEntries[N][1]> } {
  return {
    cfg: m.cfg, vips: m.vips, svcs: m.svcs, reals: m.reals, svc_reals: m.svcReals, svc_rr: m.svcRr,
    svc_stats: m.svcStats, real_stats: m.realStats, srcval: m.srcval, srcval_prefixes: m.srcvalPrefixes,
  };
}

export class PlanWriter {
  private readonly maps: ReturnType<typeof byName>;

  constructor(private readonly loaded: Maps, private readonly janitor: TableJanitor) {
    this.maps = byName(loaded);
  }

  /**
   * Writes every step in order; returns the entries written (or deleted) per map. Tables of
   * removed services are only queued for the janitor: they are not counted here.
   */
  async write(steps: readonly WriteStep[]): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    const add = (name: string, n: number): void => {
      counts[name] = (counts[name] ?? 0) + n;
    };
    const y = new Yielder();
    for (const step of steps) {
      if (y.due()) await y.pause();
      switch (step.kind) {
        case 'batch': {
          const map = this.maps[step.map] as Writable<unknown, unknown>;
          const entries = step.entries as Array<[unknown, unknown]>;
          for (let i = 0; i < entries.length; i += BATCH) {
            if (y.due()) await y.pause();
            const part = entries.slice(i, i + BATCH);
            map.updateBatch(part);
            add(map.name, part.length);
          }
          break;
        }
        case 'delete': {
          const map = this.maps[step.map] as Writable<unknown, unknown>;
          if (map.delete(step.key)) add(map.name, 1);
          break;
        }
        case 'tables': {
          // A slot given a new table must not lose it to a drop of its old service's table.
          await this.janitor.release(step.tables.map((t) => t.svc));
          const inners: Array<ReturnType<typeof createU32Array>> = [];
          try {
            const entries: Array<[number, number]> = [];
            for (const t of step.tables) {
              if (y.due()) await y.pause();
              const inner = createU32Array(`xlvs_t${t.svc}`, t.realIds.length, t.realIds);
              inners.push(inner);
              entries.push([t.svc, inner.fd]);
            }
            for (let i = 0; i < entries.length; i += BATCH) {
              const part = entries.slice(i, i + BATCH);
              // The kernel waits for an RCU grace period here: off the event loop.
              await this.loaded.svcTables.updateBatchAsync(part);
              add(this.loaded.svcTables.name, part.length);
            }
          } finally {
            for (const inner of inners) closeMap(inner);
          }
          break;
        }
        case 'drop-table':
          this.janitor.drop([step.svc]);
          break;
      }
    }
    return counts;
  }
}
