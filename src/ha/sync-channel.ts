// SPDX-License-Identifier: Apache-2.0
// The connection sync of one router, both directions: the data plane's sync_ring read on a
// short timer and pushed to the SyncSender (this router's flows to the peer), and the
// SyncReceiver installing the peer's flows here. Both run whatever the role: a backup's flows
// (clients whose ARP cache still named it during a hand-over) reach the master too, and a
// returning router receives the whole table before it may take the master role back
// (inSync: the peer's bulk to it is done on the current connection).

import type { Logger } from 'pino';
import type { HaConfig, HaCounters, SyncDirection } from './types.js';
import type { Dataplane } from '../dataplane/handles.js';
import type { SlotIndex } from '../dataplane/slots.js';
import { RingBuf } from '../kernel/ringbuf.js';
import { RingBufPoller } from '../kernel/ringbuf-poller.js';
import { XLVS_HA_STAT_SYNC_LOST } from '../gen/abi.js';
import { monotonicNs } from '../dataplane/reaper.js';
import { SyncSender } from './sync-sender.js';
import { SyncReceiver } from './sync-receiver.js';

export interface SyncChannelOptions {
  ha: HaConfig;
  dp: Dataplane;
  slots: () => SlotIndex;
  log: Logger;
  /** The daemon's start (unix ms): the sender's HELLO epoch. */
  epoch: number;
  /** How often the ring is drained (ms; default 1: the sync's batching period). */
  ringIntervalMs?: number;
}

/** A counter that only grows (per-CPU sums of the data plane): grew() says whether it did since the last call. */
export class GrowthWatch {
  private last: number;

  constructor(private readonly read: () => number) {
    this.last = read();
  }

  grew(): boolean {
    const now = this.read();
    const grew = now > this.last;
    this.last = now;
    return grew;
  }
}

/** Ring records per turn of the event loop: a burst drains in big batches, timers and I/O still run between them. */
const RING_BATCH = 8192;

export class SyncChannel {
  private readonly sender: SyncSender;
  private readonly receiver: SyncReceiver;
  private ring: RingBuf | undefined;
  private poller: RingBufPoller | undefined;
  private lostTimer: NodeJS.Timeout | undefined;
  private readonly inSyncListeners = new Set<(inSync: boolean) => void>();
  readonly counters: Pick<HaCounters, 'rejected' | 'syncUnknown'> = {
    rejected: { forged: 0, replayed: 0, unknownPeer: 0, skewed: 0, malformed: 0 },
    syncUnknown: 0,
  };

  constructor(private readonly o: SyncChannelOptions) {
    const { ha, dp, log } = o;
    this.sender = new SyncSender({
      host: ha.peer.private, port: ha.syncPort, localAddress: ha.local.private, key: ha.key, node: ha.node, epoch: o.epoch,
      flows: dp.maps.flows, slots: o.slots, log: log.child({ sync: 'out' }), retryMs: ha.intervalMs,
    });
    this.receiver = new SyncReceiver({
      host: ha.local.private, port: ha.syncPort, key: ha.key, peer: ha.peer.name, log: log.child({ sync: 'in' }),
      flows: dp.maps.flows, persist: dp.maps.persist, slots: o.slots, counters: this.counters,
    });
    this.receiver.onBulkDone((b) => {
      log.info({ records: b.records, peer: b.peer }, `ha: holding the peer's table (${b.records} records in its bulk)`);
      this.emitInSync(true);
    });
    this.receiver.onLost((reason) => {
      log.info({ reason }, `ha: the peer's sync connection closed: ${reason}`);
      this.emitInSync(false);
    });
  }

  async start(): Promise<void> {
    await this.receiver.start();
    this.sender.start();
    this.ring = RingBuf.open(this.o.dp.syncRingFd);
    const ring = this.ring;
    // Raw: each record copied from the ring straight into the RECORDS payload being made (sync-stream.ts).
    const drain = (max: number): number => {
      const now = Number(monotonicNs());
      return ring.consumeRaw((area, off, len) => this.sender.pushRaw(area, off, len, now), max);
    };
    this.poller = new RingBufPoller(ring, () => undefined, {
      intervalMs: this.o.ringIntervalMs ?? 1,
      batch: RING_BATCH,
      onError: (err) => this.o.log.error({ err }, 'ha: reading the sync ring failed; flows are no longer streamed to the peer (the next bulk carries them)'),
    }, drain);
    // The ring was full (more new flows than the stream carries): the flows whose records the data
    // plane could not queue reach the peer only by a bulk, so one follows at once.
    const ringLost = new GrowthWatch(() => this.ringLost());
    this.lostTimer = setInterval(() => {
      if (!ringLost.grew()) return;
      this.o.log.warn({ lost: this.ringLost() }, 'ha: the sync ring overflowed; a new bulk carries the flows it could not queue');
      this.sender.resync();
    }, this.o.ha.intervalMs);
  }

  /** Records the data plane could not queue (ring full), all CPUs, since the data plane was loaded. */
  private ringLost(): number {
    const perCpu = this.o.dp.maps.haStats.lookup(XLVS_HA_STAT_SYNC_LOST) ?? [];
    let ring = 0n;
    for (const v of perCpu) ring += v;
    return Number(ring);
  }

  onInSync(listener: (inSync: boolean) => void): () => void {
    this.inSyncListeners.add(listener);
    return () => this.inSyncListeners.delete(listener);
  }

  private emitInSync(v: boolean): void {
    for (const l of this.inSyncListeners) l(v);
  }

  status(): { out: SyncDirection; in: SyncDirection } {
    return { out: this.sender.status(), in: this.receiver.status() };
  }

  rejected(): HaCounters['rejected'] {
    return this.counters.rejected;
  }

  unknown(): number {
    return this.counters.syncUnknown;
  }

  /** Records the data plane could not queue (ring full) plus those the sender had to drop. */
  lost(): number {
    return this.ringLost() + this.sender.lost;
  }

  async stop(): Promise<void> {
    clearInterval(this.lostTimer);
    this.lostTimer = undefined;
    this.poller?.stop();
    this.poller = undefined;
    this.ring?.close();
    this.ring = undefined;
    await this.sender.stop();
    await this.receiver.stop();
  }
}
