// SPDX-License-Identifier: Apache-2.0
// The state to run -> the maps, by diff: the planner (planner.ts, pure) works out an ordered
// write plan against the slot index (slots.ts) of what the maps hold, the writer (writer.ts)
// carries it out, and the index moves on only once it has. On start the index is rebuilt from
// the pinned maps (adopt), so a restarted daemon changes only what the config changed.
//
// A plan that cannot be carried out whole (a kernel error mid-way) leaves the maps between the
// two states: the index is then read back from the maps, which are the truth, and the next
// apply writes whatever still differs. What a crash between writes left (entries no frontend
// leads to) is found at adoption and freed: svcs entries and reals at once, tables by the janitor.
//
// apply() gives the event loop a turn every few milliseconds (planner and writer); calls must
// not overlap (the state pipeline serializes them).

import type pino from 'pino';
import type { Maps } from './handles.js';
import { busy, EMPTY_REAL, EMPTY_SVC } from './encode.js';
import { planApply } from './planner.js';
import { SlotIndex, type RealRef } from './slots.js';
import { PlanWriter } from './writer.js';
import { TableJanitor } from './table-janitor.js';
import { Yielder } from '../model/yielder.js';
import type { AppliedState } from '../model/types.js';

/** What apply() did: services added, removed, changed, and entries written per map. */
export interface ApplyResult {
  added: number;
  removed: number;
  changed: number;
  writes: Record<string, number>;
}

export interface ReconcilerOptions {
  /** The private interface's index: source validation's loose mode refuses a route back by it. */
  privateIfindex?: number;
}

export class Reconciler {
  private index = new SlotIndex();

  private readonly writer: PlanWriter;
  private readonly janitor: TableJanitor;
  private readonly ncpus: number;

  constructor(private readonly maps: Maps, private readonly log: pino.Logger, private readonly opts: ReconcilerOptions = {}) {
    this.ncpus = maps.svcStats.ncpus;
    this.janitor = new TableJanitor(maps.svcTables, log);
    this.writer = new PlanWriter(maps, this.janitor);
  }

  /** Rebuilds the slot index from the maps (after a restart: pinned state), freeing orphans. */
  adopt(): void {
    const { index, orphans } = SlotIndex.adopt({
      reals: this.maps.reals.entries(), vips: this.maps.vips.entries(), svcs: this.maps.svcs.entries(),
      tables: [...this.maps.svcTables.entries()].map(([id]) => id),
      srcval: this.maps.srcval.lookup(0),
      prefixes: this.maps.srcvalPrefixes.entries(),
    });
    if (orphans.reals.length > 0) this.maps.reals.updateBatch(orphans.reals.map((id) => [id, EMPTY_REAL]));
    if (orphans.svcs.length > 0) this.maps.svcs.updateBatch(orphans.svcs.map((id) => [id, EMPTY_SVC]));
    this.janitor.drop(orphans.tables);
    this.index = index;
    this.log.info({ services: new Set([...index.adopted.values()]).size, reals: index.realIds.size }, 'adopted data-plane state');
    if (orphans.reals.length + orphans.svcs.length + orphans.tables.length > 0) {
      this.log.warn({ reals: orphans.reals.length, services: orphans.svcs.length, tables: orphans.tables.length }, 'freed data-plane entries no frontend led to (left by a crash between writes)');
    }
  }

  /** Applies a state. Everything that can be refused (capacity, at the peak of the change;
   * tables that cannot be built) is refused before the first write. */
  async apply(state: AppliedState): Promise<ApplyResult> {
    const plan = await planApply({
      state, index: this.index, ncpus: this.ncpus, busy: () => this.busySlots(), privateIfindex: this.opts.privateIfindex,
    });
    let writes: Record<string, number>;
    try {
      writes = await this.writer.write(plan.steps);
    } catch (err) {
      this.log.error({ err }, 'writing the data plane failed mid-plan; reading back what the maps hold');
      this.adopt();
      throw err;
    }
    this.index = plan.next;
    const { added, removed, changed } = plan;
    if (added || removed || changed) this.log.info({ added, removed, changed, writes }, 'data plane reconciled');
    return { added, removed, changed, writes };
  }

  /** Resolves when the tables of removed services are dropped (the janitor is idle). */
  settled(): Promise<void> {
    return this.janitor.idle();
  }

  /** Stops dropping tables in the background (the daemon is stopping); resolves once none is under way. */
  stop(): Promise<void> {
    return this.janitor.stop();
  }

  /** The slots of a service and its reals, for reading counters. */
  slotsOf(svc: string): { id: number; reals: Map<string, { id: number }> } | undefined {
    return this.index.svcs.get(svc);
  }

  /** The slot index in force (slot <-> identity); replaced, never changed, by the next apply. */
  slotIndex(): SlotIndex {
    return this.index;
  }

  /** Which service and real a real slot holds (slot -> identity). */
  realAt(realSlot: number): RealRef | undefined {
    return this.index.realAt(realSlot);
  }

  /** One batch read of real_conns instead of a lookup per allocated slot (80,000 at 10k x 8). */
  /** The real slots with counted connections: the whole real_conns map, read with turns for the loop. */
  private async busySlots(): Promise<Set<number>> {
    const ids = new Set<number>();
    const y = new Yielder();
    for (const [id, c] of this.maps.realConns.entries()) {
      if (busy(c)) ids.add(id);
      if (y.due()) await y.pause();
    }
    return ids;
  }
}
