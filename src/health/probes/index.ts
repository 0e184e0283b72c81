// SPDX-License-Identifier: Apache-2.0
// The contract every network probe keeps (issue 5): one target, validated options, an
// AbortSignal; the answer is a result, never an exception, for anything the real server does.
// Only bad options throw (InvalidArgumentError). This file holds that contract and the checks
// shared by the probes; each probe lives in its own file (tcp.ts, udp.ts) and is imported from there.

import type { ProbeResult } from '../types.js';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { InvalidArgumentError } from '../../errors.js';

export interface ProbeTarget {
  readonly address: string;
  readonly port: number;
}

/** A probe's answer: the one type the scheduler counts (src/health/types.ts). */
export type { ProbeResult } from '../types.js';

/** The largest timeout a probe accepts: a check slower than a minute is a misconfiguration. */
export const MAX_PROBE_TIMEOUT_MS = 60_000;

/** Returns 4 or 6; the address must be a literal (probes never resolve names). */
export function checkTarget(target: ProbeTarget): 4 | 6 {
  const family = isIP(target.address);
  if (family !== 4 && family !== 6) {
    throw new InvalidArgumentError('address', target.address, 'must be an IPv4 or IPv6 address literal');
  }
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
    throw new InvalidArgumentError('port', target.port, 'must be an integer from 1 to 65535');
  }
  return family;
}

export function checkTimeout(timeoutMs: unknown): number {
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_PROBE_TIMEOUT_MS) {
    throw new InvalidArgumentError('timeoutMs', timeoutMs, `must be an integer from 1 to ${MAX_PROBE_TIMEOUT_MS}`);
  }
  return timeoutMs;
}

/** The reason for a socket error: the phase and the errno code ("connect ECONNREFUSED"). */
export function errorReason(phase: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return `${phase} ${code ?? (err instanceof Error ? err.message : String(err))}`;
}

/**
 * Runs one probe body that settles exactly once: the body calls `finish` on its verdict; the
 * timeout and the signal call it too. `cleanup` always runs (closing the socket) before the
 * promise resolves, whichever came first.
 */
export function runProbe(
  signal: AbortSignal,
  timeoutMs: number,
  timeoutResult: () => { ok: boolean; reason: string },
  body: (finish: (ok: boolean, reason: string) => void) => () => void,
): Promise<ProbeResult> {
  const start = performance.now();
  const elapsed = (): number => Math.round((performance.now() - start) * 10) / 10;
  if (signal.aborted) return Promise.resolve({ ok: false, reason: 'aborted', ms: elapsed() });
  return new Promise<ProbeResult>((resolve) => {
    let done = false;
    let cleanup: (() => void) | undefined;
    const finish = (ok: boolean, reason: string, timedOut = false): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      cleanup?.();
      resolve(timedOut && !ok ? { ok, reason, ms: elapsed(), timedOut } : { ok, reason, ms: elapsed() });
    };
    const onAbort = (): void => finish(false, 'aborted');
    const timer = setTimeout(() => {
      const r = timeoutResult();
      finish(r.ok, r.reason, true);
    }, timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    cleanup = body(finish);
    // The body may have finished synchronously, before cleanup was known.
    if (done) cleanup();
  });
}
