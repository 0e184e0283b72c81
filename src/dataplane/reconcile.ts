// SPDX-License-Identifier: Apache-2.0
// The state to run -> the maps, by diff: the planner (planner.ts, pure) works out an ordered
// write plan against the slot index (slots.ts) of what the maps hold, the writer (writer.ts)
// carries it out, and the index moves on only once it has. On start the index is rebuilt from
// the pinned maps (adopt), so a restarted daemon changes only what the config changed.
//
// A plan that cannot be carried out whole (a kernel error mid-way) leaves the maps between the
// two states: the index is then read back from the maps, which are the truth, and the next
// apply writes whatever still differs.

import type pino from 'pino';
import type { Maps } from './handles.js';
import { busy, EMPTY_REAL } from './encode.js';
import { planApply } from './planner.js';
import { SlotIndex, type RealRef } from './slots.js';
import { PlanWriter } from './writer.js';
import type { AppliedState } from '../model/types.js';

/** What apply() did: services added, removed, changed, and entries written per map. */
export interface ApplyResult {
  added: number;
  removed: number;
  changed: number;
  writes: Record<string, number>;
}

export class Reconciler {
  private index = new SlotIndex();
  private readonly writer: PlanWriter;
  private readonly ncpus: number;

  constructor(private readonly maps: Maps, private readonly log: pino.Logger) {
    this.ncpus = maps.svcStats.ncpus;
    this.writer = new PlanWriter(maps);
  }

  /** Rebuilds the slot index from the maps (after a restart: pinned state). */
  adopt(): void {
    const { index, stale } = SlotIndex.adopt({
      reals: this.maps.reals.entries(), vips: this.maps.vips.entries(), svc: (id) => this.maps.svcs.lookup(id),
    });
    // A real whose service is gone (crash between writes): its slot is freed.
    for (const id of stale) this.maps.reals.update(id, EMPTY_REAL);
    this.index = index;
    this.log.info({ services: new Set([...index.adopted.values()]).size, reals: index.realIds.size }, 'adopted data-plane state');
  }

  /** Applies a state. Everything that can be refused (capacity, at the peak of the change;
   * tables that cannot be built) is refused before the first write. */
  apply(state: AppliedState): ApplyResult {
    const plan = planApply({ state, index: this.index, ncpus: this.ncpus, busy: () => this.busySlots() });
    let writes: Record<string, number>;
    try {
      writes = this.writer.write(plan.steps);
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

  /** The slots of a service and its reals, for reading counters. */
  slotsOf(svc: string): { id: number; reals: Map<string, { id: number }> } | undefined {
    return this.index.svcs.get(svc);
  }

  /** Which service and real a real slot holds (slot -> identity). */
  realAt(realSlot: number): RealRef | undefined {
    return this.index.realAt(realSlot);
  }

  /** One batch read of real_conns instead of a lookup per allocated slot (80,000 at 10k x 8). */
  private busySlots(): Set<number> {
    const ids = new Set<number>();
    for (const [id, c] of this.maps.realConns.entries()) if (busy(c)) ids.add(id);
    return ids;
  }
}
