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
import { lib, errno } from '../../kernel/libbpf.js';
import { libc } from '../../kernel/libc.js';

interface TcpHandle {
  readonly fd: number;
  bind(address: string, port: number): number;
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

/**
 * Where a VIP check's packets go: out of `device` (SO_BINDTODEVICE), marked `mark` (SO_MARK) so
 * the router's policy routing sends them to one real (health/vip-routes.ts).
 */
export interface ViaReal {
  device: string;
  mark: number;
}

const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;
const SO_MARK = 36;

/** Sets the options on the handle's socket (bound to port 0 first, so it exists); errno or 0. */
function steer(handle: TcpHandle, via: ViaReal): string | undefined {
  const bound = handle.bind('0.0.0.0', 0);
  if (bound !== 0) return `bind ${getSystemErrorName(bound)}`;
  const dev = Buffer.from(`${via.device}\0`);
  if (libc.setsockopt(handle.fd, SOL_SOCKET, SO_BINDTODEVICE, dev, dev.length) !== 0) return `SO_BINDTODEVICE ${errnoName()}`;
  const mark = Buffer.alloc(4);
  mark.writeUInt32LE(via.mark >>> 0);
  if (libc.setsockopt(handle.fd, SOL_SOCKET, SO_MARK, mark, 4) !== 0) return `SO_MARK ${errnoName()}`;
  return undefined;
}

function errnoName(): string {
  const e = errno();
  return getSystemErrorName(-e);
}

/**
 * tcp check without send/expect: healthy when the connection is accepted within timeoutMs.
 * With `via`, the connection goes to the VIP through one real (a check of the VIP on a dr real).
 */
export function probeTcpConnect(target: ProbeTarget, timeoutMs: number, signal: AbortSignal, via?: ViaReal): Promise<ProbeResult> {
  if (!wrap) {
    if (via) return Promise.resolve({ ok: false, reason: 'a VIP check needs node\'s tcp_wrap binding, missing here', ms: 0 });
    return probeTcp(target, { timeoutMs }, signal);
  }
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
    const end = (ok: boolean, reason: string, timedOut = false): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (connected) handle.reset(() => {});
      else handle.close();
      resolve(timedOut ? { ok, reason, ms: ms(), timedOut } : { ok, reason, ms: ms() });
    };
    const onAbort = (): void => end(false, 'aborted');
    const timer = setTimeout(() => end(false, `timeout after ${timeoutMs} ms connecting`, true), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    req.oncomplete = (status: number) => {
      if (status === 0) {
        connected = true;
        end(true, 'connected');
      } else {
        end(false, `connect ${getSystemErrorName(status)}`);
      }
    };
    const steered = via === undefined ? undefined : steer(handle, via);
    if (steered !== undefined) {
      end(false, steered);
      return;
    }
    const err = family === 4 ? handle.connect(req, target.address, target.port) : handle.connect6(req, target.address, target.port);
    if (err !== 0) end(false, `connect ${getSystemErrorName(err)}`);
  });
}
