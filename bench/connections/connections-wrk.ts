// SPDX-License-Identifier: Apache-2.0
// wrk for the connections benchmark: the argv of a short-connection run and the parser of its
// text output (wrk 4.1 has no machine-readable output without a Lua script; the text is stable).
// Pure: no process is started here, so the unit tests feed it outputs captured from real runs.

import { InvalidArgumentError } from '../../src/errors.js';
import { BenchError } from '../common/errors.js';

export interface WrkOptions {
  url: string;
  threads: number;
  connections: number;
  seconds: number;
  /** wrk's per-request timeout; a request slower than this counts as a timeout error. */
  timeoutSeconds: number;
}

export interface WrkResult {
  requests: number;
  /** wrk's own elapsed time of the run. */
  seconds: number;
  /** wrk's "Requests/sec": one request per connection here, so connections per second. */
  requestsPerSec: number;
  /** Latency percentiles in microseconds (wrk --latency). */
  latencyUs: { p50: number; p75: number; p90: number; p99: number };
  errors: { connect: number; read: number; write: number; timeout: number; non2xx: number };
}

export function wrkArgv(o: WrkOptions): string[] {
  const int = (field: string, v: number, lo: number, hi: number): void => {
    if (!Number.isInteger(v) || v < lo || v > hi) throw new InvalidArgumentError(field, v, `must be an integer ${lo}..${hi}`);
  };
  int('threads', o.threads, 1, 64);
  int('connections', o.connections, o.threads, 10_000);
  int('seconds', o.seconds, 1, 3600);
  int('timeoutSeconds', o.timeoutSeconds, 1, 60);
  if (!/^http:\/\/[0-9.]+(:\d+)?\/\S*$/.test(o.url)) throw new InvalidArgumentError('url', o.url, 'expected http://<IPv4>[:port]/path');
  // Connection: close makes every request a new TCP connection (wrk reconnects after each reply).
  return ['wrk', '-t', String(o.threads), '-c', String(o.connections), '-d', `${o.seconds}s`, '--timeout', `${o.timeoutSeconds}s`,
    '--latency', '-H', 'Connection: close', o.url];
}

const UNIT_US: Record<string, number> = { us: 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6 };
const SI: Record<string, number> = { '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9 };

function latencyUs(text: string, what: string): number {
  const m = /^([0-9.]+)(us|ms|s|m|h)$/.exec(text);
  if (m === null) throw new BenchError(`wrk output: ${what}: cannot read latency ${JSON.stringify(text)}`);
  // Rounded to the nanosecond: wrk prints two decimals, and 16.06 * 1000 is not 16060 in binary.
  return Math.round(Number(m[1]) * UNIT_US[m[2]!]! * 1000) / 1000;
}

function need(out: string, re: RegExp, what: string): RegExpExecArray {
  const m = re.exec(out);
  if (m === null) throw new BenchError(`wrk output has no ${what}: ${JSON.stringify(out.slice(0, 800))}`);
  return m;
}

/** Parses wrk's report. Missing error lines mean zero errors of that kind (wrk prints only non-zero ones). */
export function parseWrk(out: string): WrkResult {
  const total = need(out, /^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m|h),/m, '"N requests in T" line');
  const rps = need(out, /^Requests\/sec:\s+([0-9.]+)([kKMG]?)\s*$/m, '"Requests/sec" line');
  const pct = (p: string): number => latencyUs(need(out, new RegExp(`^\\s*${p}%\\s+(\\S+)\\s*$`, 'm'), `latency ${p}% line (run wrk with --latency)`)[1]!, `${p}%`);
  const sock = /^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)\s*$/m.exec(out);
  const non2xx = /^\s*Non-2xx or 3xx responses: (\d+)\s*$/m.exec(out);
  return {
    requests: Number(total[1]),
    seconds: latencyUs(`${total[2]}${total[3]}`, 'elapsed') / 1e6,
    requestsPerSec: Number(rps[1]) * SI[rps[2]!]!,
    latencyUs: { p50: pct('50'), p75: pct('75'), p90: pct('90'), p99: pct('99') },
    errors: {
      connect: Number(sock?.[1] ?? 0),
      read: Number(sock?.[2] ?? 0),
      write: Number(sock?.[3] ?? 0),
      timeout: Number(sock?.[4] ?? 0),
      non2xx: Number(non2xx?.[1] ?? 0),
    },
  };
}

/** Socket errors plus non-2xx replies. */
export function errorCount(r: WrkResult): number {
  const e = r.errors;
  return e.connect + e.read + e.write + e.timeout + e.non2xx;
}

/**
 * Why a run does not count, or undefined if it does: it must have completed requests, and its
 * errors may not exceed `tolerance` (a fraction) of them.
 */
export function rejectReason(r: WrkResult, tolerance: number): string | undefined {
  if (r.requests === 0) return 'no request completed';
  const errors = errorCount(r);
  if (errors > tolerance * r.requests) return `${errors} errors in ${r.requests} requests (${JSON.stringify(r.errors)}) exceed the tolerance of ${tolerance * 100}%`;
  return undefined;
}
