// SPDX-License-Identifier: Apache-2.0
// Drops the scheduling tables (svc_tables entries) no service uses any more, in the background.
//
// Why: deleting an entry of a map of maps waits for an RCU grace period inside the system call
// (~12 ms here), and this kernel has no batch delete for arrays of maps (ENOTSUPP): removing
// 5,000 services held the event loop for 63 s. A removed service's table is unreachable the
// moment its svcs entry is empty (the planner writes that first), so dropping the table only
// frees kernel memory and can wait. Each delete runs on libuv's thread pool (koffi's async
// call), never on the event loop, a few at a time.
//
// A slot handed to a new service before its old table was dropped must not lose the new one:
// the writer calls release() for the slots it is about to give tables, which takes them out of
// the queue and waits for a delete already under way.

import type { Logger } from 'pino';
import type { BpfMap } from '../kernel/map.js';
import { lib } from '../kernel/libbpf.js';

/** Deletes under way at once: each holds a pool thread for a grace period. */
const CONCURRENCY = 2;
const ENOENT = 2;

export class TableJanitor {
  private readonly queue = new Set<number>(); // insertion order is drop order
  private readonly inFlight = new Map<number, Promise<void>>();
  private idleWaiters: Array<() => void> = [];
  private stopped = false;
  private dropped = 0;

  constructor(private readonly svcTables: BpfMap<number, number>, private readonly log: Pick<Logger, 'info' | 'error'>) {}

  /** Tables to drop: slots whose service is gone (removed, or found orphaned at a restart). */
  drop(slots: Iterable<number>): void {
    for (const s of slots) this.queue.add(s);
    this.pump();
  }

  /** The slots are about to get new tables: not to be dropped; resolves once no delete of theirs is under way. */
  async release(slots: Iterable<number>): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const s of slots) {
      this.queue.delete(s);
      const p = this.inFlight.get(s);
      if (p) waits.push(p);
    }
    await Promise.all(waits);
  }

  /** Tables waiting to be dropped, or being dropped. */
  get pending(): number {
    return this.queue.size + this.inFlight.size;
  }

  /** Resolves when nothing is left to drop. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking up new deletes and waits for those under way; what is left stays in the map (the next start finds it). */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.inFlight.values());
  }

  private pump(): void {
    while (!this.stopped && this.inFlight.size < CONCURRENCY && this.queue.size > 0) {
      const slot = this.queue.values().next().value as number;
      this.queue.delete(slot);
      const p = this.deleteOne(slot).finally(() => {
        this.inFlight.delete(slot);
        this.pump();
        if (this.pending === 0) this.settled();
      });
      this.inFlight.set(slot, p);
    }
  }

  private deleteOne(slot: number): Promise<void> {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(slot);
    return new Promise((resolve) => {
      // koffi runs the call on libuv's thread pool; key stays referenced until the callback.
      lib.map_delete_elem.async(this.svcTables.fd, key, (err: unknown, rc: number) => {
        if (err) this.log.error({ err, slot }, 'dropping a scheduling table failed');
        else if (rc < 0 && -rc !== ENOENT) this.log.error({ slot, errno: -rc }, 'dropping a scheduling table failed');
        else this.dropped++;
        resolve();
      });
    });
  }

  private settled(): void {
    if (this.dropped > 0) this.log.info({ tables: this.dropped }, 'scheduling tables of removed services dropped');
    this.dropped = 0;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
