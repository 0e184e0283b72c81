// SPDX-License-Identifier: Apache-2.0
// The plain tcp check (connect, nothing sent) on libuv's TCP handle directly, without a
// net.Socket around it: no stream, no event emitter, no read buffers. At 10,000 checks a second
// the net.Socket machinery was most of the daemon's own CPU (17 µs a connect against 5 µs here,
// measured on this machine). The handle is node's tcp_wrap binding, stable across node 16..22;
// where it is missing the probe falls back to net.Socket (probes/tcp.ts), so only speed depends
// on it. The connection is closed with a reset, as HAProxy closes its checks: no TIME_WAIT.

import { getSystemErrorName } from 'node:util';
import { performance } from 'node:perf_hooks';
import type { ProbeResult, ProbeTarget } from './index.js';
import { checkTarget, checkTimeout } from './index.js';
import { probeTcp } from './tcp.js';

interface TcpHandle {
  connect(req: ConnectReq, address: string, port: number): number;
  connect6(req: ConnectReq, address: string, port: number): number;
  reset(cb: () => void): number;
  close(cb?: () => void): void;
}
interface ConnectReq {
  oncomplete: (status: number) => void;
}
interface TcpWrap {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => ConnectReq;
  constants: { SOCKET: number };
}

function loadTcpWrap(): TcpWrap | undefined {
  try {
    const b = (process as unknown as { binding(name: string): TcpWrap }).binding('tcp_wrap');
    const probe = new b.TCP(b.constants.SOCKET);
    const usable = typeof probe.connect === 'function' && typeof probe.connect6 === 'function' && typeof probe.reset === 'function';
    probe.close();
    return usable ? b : undefined;
  } catch {
    // A node without the binding: the net.Socket probe does the same job, slower.
    return undefined;
  }
}

const wrap = loadTcpWrap();

/** Whether the fast path is in use (for the benchmark report and a test). */
export const TCP_CONNECT_FAST = wrap !== undefined;

/** tcp check without send/expect: healthy when the connection is accepted within timeoutMs. */
export function probeTcpConnect(target: ProbeTarget, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
  if (!wrap) return probeTcp(target, { timeoutMs }, signal);
  const family = checkTarget(target);
  checkTimeout(timeoutMs);
  const start = performance.now();
  const ms = (): number => Math.round((performance.now() - start) * 10) / 10;
  if (signal.aborted) return Promise.resolve({ ok: false, reason: 'aborted', ms: 0 });
  const { TCP, TCPConnectWrap, constants } = wrap;
  return new Promise((resolve) => {
    const handle = new TCP(constants.SOCKET);
    const req = new TCPConnectWrap();
    let settled = false;
    let connected = false;
    const end = (ok: boolean, reason: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (connected) handle.reset(() => {});
      else handle.close();
      resolve({ ok, reason, ms: ms() });
    };
    const onAbort = (): void => end(false, 'aborted');
    const timer = setTimeout(() => end(false, `timeout after ${timeoutMs} ms connecting`), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    req.oncomplete = (status: number) => {
      if (status === 0) {
        connected = true;
        end(true, 'connected');
      } else {
        end(false, `connect ${getSystemErrorName(status)}`);
      }
    };
    const err = family === 4 ? handle.connect(req, target.address, target.port) : handle.connect6(req, target.address, target.port);
    if (err !== 0) end(false, `connect ${getSystemErrorName(err)}`);
  });
}
