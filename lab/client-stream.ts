// SPDX-License-Identifier: Apache-2.0
// The TCP line-protocol client modes: one bulk download, and one long-held connection that
// pings at an interval (to watch a flow survive, or not, while the load balancer changes).

import { connect, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { asBytes, bulkSha256, DEFAULT_BULK_SEED } from './pattern.js';

export interface BulkResult {
  bytes: number;
  sha256: string;
  expected_sha256: string;
  ok: boolean;
  /** Remote address as the client's socket saw it (the VIP when going through the balancer). */
  peer: string;
  ms: number;
}

/** Downloads `bytes` pattern bytes over one connection and checks their SHA-256. */
export function bulk(host: string, port: number, bytes: number, timeoutMs: number, seed = DEFAULT_BULK_SEED): Promise<BulkResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const hash = createHash('sha256');
    let got = 0;
    let peer = '';
    const sock = connect({ host, port });
    const timer = setTimeout(() => sock.destroy(new Error(`bulk timed out after ${timeoutMs} ms with ${got} bytes`)), timeoutMs);
    sock.on('connect', () => {
      peer = sock.remoteAddress ?? '';
      sock.write(`BULK ${bytes} ${seed}\n`);
    });
    sock.on('data', (chunk: Buffer) => {
      got += chunk.length;
      hash.update(asBytes(chunk));
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('end', () => {
      clearTimeout(timer);
      sock.end();
      const sha256 = hash.digest('hex');
      const expected = bulkSha256(bytes, seed);
      resolve({ bytes: got, sha256, expected_sha256: expected, ok: got === bytes && sha256 === expected, peer, ms: Math.round(performance.now() - t0) });
    });
  });
}

export type HoldLine =
  | { seq: number; reply: string; t: number; rtt: number }
  | { done: true; sent: number; received: number }
  | { error: string; sent: number; received: number };

export interface HoldOptions {
  host: string;
  port: number;
  intervalMs: number;
  durationMs: number;
  connectTimeoutMs: number;
}

/**
 * Holds one connection for `durationMs`, sending PING every `intervalMs` and emitting a line per
 * reply. Resolves with the final line. `stop` ends it early as if the duration had run out.
 */
export function hold(opts: HoldOptions, emit: (line: HoldLine) => void): { result: Promise<HoldLine>; stop: () => void } {
  let stop: () => void = () => undefined;
  const result = new Promise<HoldLine>((resolve) => {
    const t0 = performance.now();
    const sentAt: number[] = [];
    let received = 0;
    let buf = '';
    let ticker: NodeJS.Timeout | undefined;
    let finished = false;
    const sock: Socket = connect({ host: opts.host, port: opts.port });

    const finish = (line: HoldLine): void => {
      if (finished) return;
      finished = true;
      clearTimeout(connectTimer);
      clearTimeout(endTimer);
      clearInterval(ticker);
      sock.destroy();
      emit(line);
      resolve(line);
    };
    const fail = (why: string): void => finish({ error: why, sent: sentAt.length, received });
    stop = () => finish({ done: true, sent: sentAt.length, received });

    const connectTimer = setTimeout(() => fail(`connect timeout ${opts.connectTimeoutMs} ms`), opts.connectTimeoutMs);
    const endTimer = setTimeout(stop, opts.durationMs);
    sock.setEncoding('utf8');
    sock.setNoDelay(true);
    sock.on('connect', () => {
      clearTimeout(connectTimer);
      const ping = (): void => {
        sentAt.push(performance.now());
        sock.write('PING\n');
      };
      ping();
      ticker = setInterval(ping, opts.intervalMs);
    });
    sock.on('data', (data: string) => {
      buf += data;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const reply = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        const now = performance.now();
        const seq = received;
        received += 1;
        emit({ seq, reply, t: Math.round(now - t0), rtt: Math.round((now - (sentAt[seq] ?? now)) * 1000) / 1000 });
      }
    });
    sock.on('error', (err) => fail(err.message));
    sock.on('close', () => fail('connection closed by peer'));
  });
  return { result, stop: () => stop() };
}
