// SPDX-License-Identifier: Apache-2.0
// The reconciler's map writes, queued per map and flushed in batches (bpf_map_update_batch: one
// syscall per map and phase instead of one per entry), and counted per map, so that a reload can
// show exactly what it wrote (`writes` in the "data plane reconciled" log line).
//
// Why batches matter beyond syscall count: an update of a map-of-maps (svc_tables) makes the
// kernel wait for an RCU grace period before it returns (so that no program still uses the old
// inner map), ~10 ms here. One update per service made 10,000 services take minutes; one batch
// waits once.

interface Batchable<K, V> {
  readonly name: string;
  updateBatch(entries: [K, V][]): void;
  delete(k: K): boolean;
}

/** Entries per batch: bounds the buffers (and, for svc_tables, the inner-map fds held open). */
export const BATCH = 4096;

export class MapWrites {
  /** Entries written (or deleted) per map name since the last take(). */
  private counts: Record<string, number> = {};
  private readonly queues = new Map<Batchable<unknown, unknown>, Array<[unknown, unknown]>>();

  /** Queues one write; nothing reaches the map before flush(map). */
  queue<K, V>(map: Batchable<K, V>, k: K, v: V): void {
    let q = this.queues.get(map as Batchable<unknown, unknown>);
    if (!q) this.queues.set(map as Batchable<unknown, unknown>, (q = []));
    q.push([k, v]);
  }

  /** Writes the queued entries of one map, in queue order, BATCH at a time. */
  flush<K, V>(map: Batchable<K, V>): void {
    const q = this.queues.get(map as Batchable<unknown, unknown>) as Array<[K, V]> | undefined;
    if (!q || q.length === 0) return;
    this.queues.delete(map as Batchable<unknown, unknown>);
    for (let i = 0; i < q.length; i += BATCH) {
      const part = q.slice(i, i + BATCH);
      map.updateBatch(part);
      this.add(map.name, part.length);
    }
  }

  /** Writes now (a batch of one). */
  write<K, V>(map: Batchable<K, V>, k: K, v: V): void {
    map.updateBatch([[k, v]]);
    this.add(map.name, 1);
  }

  delete<K, V>(map: Batchable<K, V>, k: K): void {
    if (map.delete(k)) this.add(map.name, 1);
  }

  /** The counts since the last take(), and starts counting again. */
  take(): Record<string, number> {
    const c = this.counts;
    this.counts = {};
    return c;
  }

  private add(name: string, n: number): void {
    this.counts[name] = (this.counts[name] ?? 0) + n;
  }
}
