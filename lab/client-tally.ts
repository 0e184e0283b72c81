// SPDX-License-Identifier: Apache-2.0
// Runs N independent request/response exchanges with a concurrency limit and a total deadline,
// counting answers by the real server's name. Shared by the http and udp client modes.

export interface Tally {
  counts: Record<string, number>;
  errors: number;
  /** The first few error messages, so a failing test says why without a rerun. */
  errorSamples: string[];
}

const MAX_SAMPLES = 5;

/**
 * `one` performs a single exchange and resolves with the name that answered; it must give up
 * when `signal` aborts. Exchanges not even started before the deadline count as errors.
 */
export async function tally(
  count: number,
  concurrency: number,
  totalTimeoutMs: number,
  one: (signal: AbortSignal) => Promise<string>,
): Promise<Tally> {
  const result: Tally = { counts: {}, errors: 0, errorSamples: [] };
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new Error(`total timeout ${totalTimeoutMs} ms`)), totalTimeoutMs);
  let started = 0;

  const fail = (n: number, why: string): void => {
    result.errors += n;
    if (result.errorSamples.length < MAX_SAMPLES) result.errorSamples.push(why);
  };
  const worker = async (): Promise<void> => {
    while (started < count && !deadline.signal.aborted) {
      started += 1;
      try {
        const name = await one(deadline.signal);
        result.counts[name] = (result.counts[name] ?? 0) + 1;
      } catch (err) {
        fail(1, err instanceof Error ? err.message : String(err));
      }
    }
  };

  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
  clearTimeout(timer);
  const neverStarted = count - started;
  if (neverStarted > 0) fail(neverStarted, `${neverStarted} requests not started before the total timeout`);
  return result;
}
