// SPDX-License-Identifier: Apache-2.0
// Deletes flow entries past their deadline, and dead persistence templates and lblc
// entries. The data plane already treats them as absent; reaping returns their memory so
// the LRU does not have to evict live flows. The work runs in the kernel (xlvs_reap, through
// BPF_PROG_TEST_RUN) because deleting a flow also counts it down in its real's connection
// counts, atomically and exactly once — userspace cannot do that race-free.

import type pino from 'pino';
import { XdpTestRunner } from '../kernel/test-run.js';
import { BpfError, XlvsError } from '../errors.js';

/** Monotonic clock in ns: the same clock as bpf_ktime_get_ns() (CLOCK_MONOTONIC). */
export const monotonicNs = (): bigint => process.hrtime.bigint();

/** Any Ethernet-sized frame: xlvs_reap ignores its packet. */
const DUMMY_FRAME = Buffer.alloc(64);

export class Reaper {
  private timer: NodeJS.Timeout | undefined;
  private readonly runner: XdpTestRunner;

  constructor(reapFd: number, private readonly intervalMs: number, private readonly log: pino.Logger) {
    this.runner = new XdpTestRunner(reapFd);
  }

  /**
   * Reaps every intervalMs until stop(). A failed run is logged and the next one comes as
   * planned: the timer's callback must never throw, as an uncaught exception would end xlvsd
   * (and dead flows only cost memory until the next run succeeds).
   */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** Runs xlvs_reap once; returns how many flow entries it deleted. Throws BpfError if the run fails. */
  run(): number {
    const t0 = monotonicNs();
    const reaped = this.runner.run(DUMMY_FRAME);
    if (reaped > 0) this.log.debug({ reaped, ms: Number(monotonicNs() - t0) / 1e6 }, 'flows reaped');
    return reaped;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    try {
      this.run();
    } catch (err) {
      const code = err instanceof XlvsError ? err.code : undefined;
      const errno = err instanceof BpfError ? err.errno : undefined;
      this.log.error({ err, code, errno, retryMs: this.intervalMs }, 'reaping flows failed; trying again at the next interval');
    }
  }
}
