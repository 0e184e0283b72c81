// SPDX-License-Identifier: Apache-2.0
// Long synchronous work (planning 10,000 services, writing their maps) gives the event loop a
// turn every `budgetMs`, so the API answers and timers fire while it runs. Loops ask due()
// (a clock read, no await) and await pause() only when it says so: an await per item would
// cost more than the work at 80,000 reals.

import { performance } from 'node:perf_hooks';

/** How long work may hold the event loop between two turns. */
export const YIELD_BUDGET_MS = 10;

export class Yielder {
  private since = performance.now();

  constructor(private readonly budgetMs = YIELD_BUDGET_MS) {}

  /** True when the work has held the loop for its budget. */
  due(): boolean {
    return performance.now() - this.since >= this.budgetMs;
  }

  /** Lets everything queued run (I/O, timers, API calls), then starts a new budget. */
  async pause(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.since = performance.now();
  }
}
