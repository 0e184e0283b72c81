// SPDX-License-Identifier: Apache-2.0
// The benchmarks' errors: one class per stable code, so a section (or the runner) can tell a
// failed measurement from a missing profiler.

import { XlvsError } from '../../src/errors.js';

/** A benchmark could not measure what it set out to (E_BENCH). */
export class BenchError extends XlvsError {
  constructor(message: string) {
    super('E_BENCH', message);
  }
}

/** perf could not profile (missing, refused, no samples): the figures stand without it (E_BENCH_PROFILE). */
export class ProfileError extends XlvsError {
  constructor(message: string) {
    super('E_BENCH_PROFILE', message);
  }
}

/** The packet-loop generator failed: its seed was lost or never came round, or it outlived its bound (E_BENCH_LOOP_GEN). */
export class LoopGenError extends XlvsError {
  constructor(message: string) {
    super('E_BENCH_LOOP_GEN', message);
  }
}
