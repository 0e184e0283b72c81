// SPDX-License-Identifier: Apache-2.0
// The daemon-wide gate on exec health probes (issue 5): a fork+exec costs far more than a socket,
// and 10,000 checks firing together must not fork 10,000 processes. At most `max` run at once; the
// others wait in FIFO order. Waiting is part of a probe's time: a waiter gives up at its own
// deadline or as soon as its signal aborts, and leaves the queue at once either way.

import { InvalidArgumentError } from '../../errors.js';

/** More concurrent exec probes than this is a misconfiguration, not a plan (forks, fds, memory). */
export const MAX_EXEC_CONCURRENCY = 4096;

export interface ExecLimiterStats {
  running: number; // slots held
  waiting: number; // probes queued for a slot
  max: number;
}

/** What acquire() settles with; it never rejects. */
export type ExecSlot =
  | { readonly granted: true; readonly release: () => void }
  | { readonly granted: false; readonly why: 'timeout' | 'aborted'; readonly running: number };

interface Waiter {
  grant(): void;
}

export class ExecLimiter {
  readonly max: number;
  private running = 0;
  // A Set keeps insertion order (FIFO) and removes an aborted waiter in O(1).
  private readonly waiters = new Set<Waiter>();

  constructor(max: number) {
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > MAX_EXEC_CONCURRENCY) {
      throw new InvalidArgumentError('maxExec', max, `must be an integer from 1 to ${MAX_EXEC_CONCURRENCY}`);
    }
    this.max = max;
  }

  stats(): ExecLimiterStats {
    return { running: this.running, waiting: this.waiters.size, max: this.max };
  }

  /**
   * A slot within `waitMs`, or why not. The returned release() is idempotent; the slot passes
   * straight to the oldest waiter, so a newcomer never overtakes the queue.
   */
  acquire(waitMs: number, signal: AbortSignal): Promise<ExecSlot> {
    if (signal.aborted) return Promise.resolve({ granted: false, why: 'aborted', running: this.running });
    if (this.running < this.max && this.waiters.size === 0) {
      this.running++;
      return Promise.resolve(this.slot());
    }
    return new Promise<ExecSlot>((resolve) => {
      const leave = (why: 'timeout' | 'aborted'): void => {
        if (!this.waiters.delete(waiter)) return;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve({ granted: false, why, running: this.running });
      };
      const onAbort = (): void => leave('aborted');
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          resolve(this.slot());
        },
      };
      const timer = setTimeout(() => leave('timeout'), Math.max(0, waitMs));
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  private slot(): ExecSlot {
    let held = true;
    return {
      granted: true,
      release: () => {
        if (!held) return;
        held = false;
        this.handOver();
      },
    };
  }

  private handOver(): void {
    const next = this.waiters.values().next();
    if (next.done) {
      this.running--;
      return;
    }
    // the slot changes hands without being counted free, so `running` never dips below the truth
    this.waiters.delete(next.value);
    next.value.grant();
  }
}
