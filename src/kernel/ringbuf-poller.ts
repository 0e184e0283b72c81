// SPDX-License-Identifier: Apache-2.0
// Drains a ring buffer from the event loop on a timer.
//
// Why a timer and not a wakeup on the map's fd (epoll): a look at an empty ring is two loads
// from shared memory, no system call, so polling every few tens of milliseconds costs nothing
// measurable; the connection sync batches its messages over such a period anyway, so waking on
// each record would buy latency nobody uses. A wakeup would need either a blocking epoll_wait
// (off the main thread: a worker per ring) or koffi's libuv poll handle, which koffi documents
// as unstable. And with nobody waiting, the producer can pass BPF_RB_NO_WAKEUP and skip the
// kernel's per-record notification work.
//
// A tick that takes a full batch comes back at once (setImmediate) rather than after the
// period: a burst drains at the speed of the handler, a batch per turn of the event loop, so
// timers and I/O still run between batches.

import { InvalidArgumentError } from '../errors.js';
import type { RecordHandler, RingBuf } from './ringbuf.js';
import { DEFAULT_CONSUME_MAX } from './ringbuf.js';

export interface RingBufPollerOptions {
  /** Milliseconds between looks at a ring that was drained (default 50). */
  intervalMs?: number;
  /** Records per turn of the event loop (default DEFAULT_CONSUME_MAX). */
  batch?: number;
  /** A handler's exception: the poller has stopped, the record that threw is consumed. */
  onError: (e: unknown) => void;
  /** Whether the timer keeps the process alive (default false: the daemon's servers do). */
  ref?: boolean;
}

export class RingBufPoller {
  private timeout: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private stopped = false;
  private readonly intervalMs: number;
  private readonly batch: number;
  private readonly drain: (max: number) => number;

  /** drain: how the ring is read instead of consume(handler) (e.g. RingBuf.consumeRaw); it returns the records taken. */
  constructor(ring: RingBuf, handler: RecordHandler, private readonly o: RingBufPollerOptions, drain?: (max: number) => number) {
    this.drain = drain ?? ((max) => ring.consume(handler, max));
    this.intervalMs = o.intervalMs ?? 50;
    this.batch = o.batch ?? DEFAULT_CONSUME_MAX;
    if (!Number.isInteger(this.intervalMs) || this.intervalMs < 1) throw new InvalidArgumentError('intervalMs', this.intervalMs, 'must be an integer >= 1');
    if (!Number.isInteger(this.batch) || this.batch < 1) throw new InvalidArgumentError('batch', this.batch, 'must be an integer >= 1');
    this.schedule(false);
  }

  /** Stops polling; the ring stays open (the caller closes it). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timeout);
    clearImmediate(this.immediate);
    this.timeout = this.immediate = undefined;
  }

  private schedule(now: boolean): void {
    if (this.stopped) return;
    const t = now ? (this.immediate = setImmediate(() => this.tick())) : (this.timeout = setTimeout(() => this.tick(), this.intervalMs));
    if (this.o.ref !== true) t.unref();
  }

  private tick(): void {
    this.timeout = this.immediate = undefined;
    if (this.stopped) return;
    let n: number;
    try {
      n = this.drain(this.batch);
    } catch (e) {
      this.stopped = true;
      this.o.onError(e);
      return;
    }
    this.schedule(n === this.batch);
  }
}
