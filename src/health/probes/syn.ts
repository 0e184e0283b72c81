// SPDX-License-Identifier: Apache-2.0
// tcp checks without sockets: each probe is one SYN the data plane builds and sends, and its
// answer (SYN-ACK: up; RST: down) is caught by xlvs_private, which resets the half-open
// connection itself (bpf/probe.h). An answer is taken only on the slot's random port, with the
// slot's random nonce acknowledged, from the MAC the SYN went to (syn-slots.ts): a host on the
// private LAN cannot forge one. The daemon writes a small slot in shared memory per probe;
// xlvs_private builds the frame in a test run and a batch goes out with one sendmmsg()
// (syn-send.ts); the outcome is read from the same memory. A connect() check costs socket +
// connect + close and the event loop's work for each: about 40 µs of a core per check, 40% of
// one at 10,000 a second.
//
// A probe the data plane cannot build goes to the socket probe instead, for that round:
//  - NO_NEIGH: the next hop's MAC is unknown; connect() makes the kernel resolve it;
//  - NO_ROUTE: the check address is not reached through the private interface, where
//    xlvs_private would see the answer.
// An ICMP error about a probe's SYN (unreachable, time exceeded) fails it at once, as connect().
//
// A check of the VIP on a dr or tun real (`address: vip`) is a SYN to the VIP sent to that real:
// at its MAC (dr) or inside the tunnel to it (tun), as clients' packets reach it. Such a probe has
// no socket fallback (the VIP is the router's own): not sent, it fails with the reason.

import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { ProbeResult, ProbeTarget } from './index.js';
import { checkTarget, checkTimeout } from './index.js';
import { SynSlots } from './syn-slots.js';
import { icmpReason } from './icmp-reason.js';
import { MappedMap } from '../../kernel/mmap.js';
import { InvalidArgumentError } from '../../errors.js';
import { SynSender } from './syn-send.js';
import { EAGAIN, ENOBUFS } from '../../host/raw-frames.js';
import { addressBytes } from '../../model/ip.js';
import {
  ABI_LAYOUT,
  XLVS_AF_INET,
  XLVS_AF_INET6,
  XLVS_MAX_PROBES,
  XLVS_PROBE_PORT_MIN,
  XLVS_PROBE_PORTS,
  XLVS_PROBE_IDLE,
  XLVS_PROBE_SENT,
  XLVS_PROBE_OPEN,
  XLVS_PROBE_REFUSED,
  XLVS_PROBE_NO_NEIGH,
  XLVS_PROBE_NO_ROUTE,
  XLVS_PROBE_NO_LOCAL,
  XLVS_PROBE_BAD,
  XLVS_PROBE_DIRECT,
  XLVS_PROBE_VIA_DR,
  XLVS_PROBE_VIA_TUN,
  XLVS_PROBE_UNREACHABLE,
} from '../../gen/abi.js';

/**
 * Probes wait this long for company before their batch is sent; with more than one burst
 * queued (many probes fell due together) one burst goes per flush and the next this much later,
 * so the next hop's consumer (a NAPI thread, maybe on this very CPU) drains its ring in between.
 * Sleeping between bursts instead held the event loop as long as the consumer and everything
 * else runnable had the CPU: 490 ms for 16 bursts on a busy 2-CPU machine.
 */
export const SYN_FLUSH_MS = 1;
/**
 * The most frames in one send: a burst the next hop takes. A veth's ring holds 256 frames and a
 * NIC's a few hundred to a few thousand; 1,024 at once into a veth lost over half of them
 * (tx_queue_0_xdp_xmit_errors) while its consumer was still on the earlier ones.
 */
export const SYN_BURST = 256;
/** How often answers are looked for while probes are out. */
export const SYN_POLL_MS = 5;
/** A VIP check whose real's MAC is not resolved yet, or a frame the device's queue had no room
 * for, is sent again this much later (within the probe's deadline). */
export const SYN_RESEND_MS = 20;

/** Why the data plane did not send a probe, by enum xlvs_probe_result. */
const NOT_SENT: Record<number, string> = {
  [XLVS_PROBE_IDLE]: 'building the SYN failed',
  [XLVS_PROBE_NO_NEIGH]: 'the real\'s MAC is not resolved yet',
  [XLVS_PROBE_NO_ROUTE]: 'the real is not reached through the private interface',
  [XLVS_PROBE_NO_LOCAL]: 'no local address of the family for the tunnel (local_addresses)',
  [XLVS_PROBE_BAD]: 'the probe slot made no sense to the data plane',
};

/** The socket probe a SYN probe falls back to. */
export type FallbackProbe = (target: ProbeTarget, timeoutMs: number, signal: AbortSignal) => Promise<ProbeResult>;

export interface SynProberOptions {
  /** xlvs_private (which builds a SYN when run on a frame from the loopback device), the probes
   * map and the probe_batch map of the loaded object. */
  progFd: number;
  probesFd: number;
  batchFd: number;
  /** The private interface (in the calling thread's namespace): probes leave and answer here. */
  ifindex: number;
  fallback: FallbackProbe;
  log: Pick<Logger, 'warn' | 'error' | 'debug'>;
}

/** A check of the VIP on one real: the SYN goes to the VIP by way of that real. */
export interface SynVia {
  method: 'dr' | 'tun';
  real: string;
}

/** A target prepared once: its address bytes and family. */
export interface SynTarget extends ProbeTarget {
  readonly family: 4 | 6;
  readonly addr: Buffer; // 16 bytes, IPv4 in the first 4
  readonly via: number; // enum xlvs_probe_via
  readonly nexthop: Buffer; // the real of a VIP check; zeros when direct
  readonly viaReal: string | undefined;
}

interface Out {
  target: SynTarget;
  timeoutMs: number;
  signal: AbortSignal;
  started: number; // performance.now()
  deadline: number;
  resolve: (r: ProbeResult) => void;
}

/** Member offsets of an ABI struct, from the layout generated out of the object's BTF. */
function offsetsOf(struct: string): Record<string, number> {
  const l = ABI_LAYOUT[struct];
  if (!l) throw new Error(`struct ${struct} missing from the generated ABI layout`);
  return Object.fromEntries(l.members.map(([name, off]) => [name, off]));
}


export class SynProber {
  private readonly slots = new SynSlots({ slots: XLVS_MAX_PROBES, portMin: XLVS_PROBE_PORT_MIN, ports: XLVS_PROBE_PORTS });
  private readonly probesMem: MappedMap;
  private readonly batchMem: MappedMap;
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private readonly stride: number;
  private readonly off: Record<string, number>;
  private readonly sender: SynSender;
  private readonly out: (Out | undefined)[] = [];
  private readonly live: number[] = []; // slots in flight
  private readonly queued: { 4: number[]; 6: number[] } = { 4: [], 6: [] };
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  private failedRun = false;
  private lastFamily: 4 | 6 = 6;

  constructor(private readonly opts: SynProberOptions) {
    const layout = ABI_LAYOUT['xlvs_probe']!;
    this.off = offsetsOf('xlvs_probe');
    this.stride = Math.ceil(layout.size / 8) * 8;
    this.probesMem = new MappedMap('probes', opts.probesFd, layout.size, XLVS_MAX_PROBES);
    try {
      this.batchMem = new MappedMap('probe_batch', opts.batchFd, ABI_LAYOUT['xlvs_probe_batch']!.size, 1);
    } catch (e) {
      this.probesMem.unmap();
      throw e;
    }
    this.view = new DataView(this.probesMem.bytes);
    this.bytes = new Uint8Array(this.probesMem.bytes);
    try {
      this.sender = new SynSender(opts.progFd, this.batchMem.bytes, opts.ifindex, SYN_BURST);
    } catch (e) {
      this.probesMem.unmap();
      this.batchMem.unmap();
      throw e;
    }
  }

  /** Checks and prepares a target once (config time). Throws InvalidArgumentError. */
  static target(t: ProbeTarget, via?: SynVia): SynTarget {
    const family = checkTarget(t);
    if (via && checkTarget({ address: via.real, port: t.port }) !== family) {
      throw new InvalidArgumentError('via.real', via.real, `must be an IPv${family} address like the checked VIP ${t.address}`);
    }
    return {
      address: t.address, port: t.port, family, addr: addressBytes(t.address),
      via: via === undefined ? XLVS_PROBE_DIRECT : via.method === 'dr' ? XLVS_PROBE_VIA_DR : XLVS_PROBE_VIA_TUN,
      nexthop: via === undefined ? Buffer.alloc(16) : addressBytes(via.real),
      viaReal: via?.real,
    };
  }

  /** One probe: resolves with its result, never rejects. */
  probe(target: SynTarget, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
    checkTimeout(timeoutMs);
    if (signal.aborted) return Promise.resolve({ ok: false, reason: 'aborted', ms: 0 });
    const slot = this.closed ? -1 : this.slots.take((s) => this.collides(s, target));
    if (slot < 0) return this.fallBack(target, timeoutMs, signal, performance.now(), this.closed ? 'the SYN prober is closed' : 'no probe slot free');
    return new Promise<ProbeResult>((resolve) => {
      const started = performance.now();
      this.out[slot] = { target, timeoutMs, signal, started, deadline: started + timeoutMs, resolve };
      this.write(slot, target);
      this.queued[target.family].push(slot);
      this.flushTimer ??= setTimeout(() => this.flush(), SYN_FLUSH_MS);
    });
  }

  /** Stops: probes out are answered as aborted, the memory is unmapped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.flushTimer = this.pollTimer = undefined;
    // queued, out, or waiting to be sent again: every probe not answered yet
    this.out.forEach((o, slot) => {
      if (o) this.settle(slot, { ok: false, reason: 'aborted', ms: 0 });
    });
    this.queued[4].length = this.queued[6].length = this.live.length = 0;
    this.sender.close();
    this.probesMem.unmap();
    this.batchMem.unmap();
  }

  /** Whether a probe of t's address and port is out on the port slot would send from. */
  private collides(slot: number, t: SynTarget): boolean {
    for (let s = slot % XLVS_PROBE_PORTS; s < XLVS_MAX_PROBES; s += XLVS_PROBE_PORTS) {
      const o = this.out[s];
      if (o !== undefined && o.target.port === t.port && o.target.address === t.address) return true;
    }
    return false;
  }

  private write(slot: number, t: SynTarget): void {
    const base = slot * this.stride;
    const o = this.off;
    this.bytes.set(t.addr, base + o['daddr']!);
    this.bytes.set(t.nexthop, base + o['nexthop']!);
    this.view.setUint8(base + o['via']!, t.via);
    this.view.setUint16(base + o['dport']!, t.port, false);
    this.view.setUint16(base + o['sport']!, this.slots.port(slot), false);
    this.view.setUint32(base + o['seq']!, this.slots.seq(slot), true);
    this.view.setUint8(base + o['family']!, t.family === 4 ? XLVS_AF_INET : XLVS_AF_INET6);
    this.view.setUint32(base + o['result']!, XLVS_PROBE_IDLE, true);
  }

  private result(slot: number): number {
    return this.view.getUint32(slot * this.stride + this.off['result']!, true);
  }

  /** Sends one burst of queued probes (the families take turns); the rest goes SYN_FLUSH_MS later. */
  private flush(): void {
    this.flushTimer = undefined;
    if (this.closed) return;
    const both = this.queued[4].length > 0 && this.queued[6].length > 0;
    const fam: 4 | 6 = both ? (this.lastFamily === 4 ? 6 : 4) : this.queued[4].length > 0 ? 4 : 6;
    this.lastFamily = fam;
    const q = this.queued[fam];
    this.send(fam, q.length <= SYN_BURST ? q.splice(0) : q.splice(0, SYN_BURST));
    if (this.queued[4].length + this.queued[6].length > 0) this.flushTimer = setTimeout(() => this.flush(), SYN_FLUSH_MS);
  }

  private send(fam: 4 | 6, chunk: number[]): void {
    let out;
    try {
      out = this.sender.send(fam, chunk, (built) => this.stampSent(built));
      this.failedRun = false;
    } catch (err) {
      // The interface went away, or the program: nothing went out; the socket path takes them.
      if (!this.failedRun) this.opts.log.error({ err, probes: chunk.length }, 'building health probes in the data plane failed; using sockets');
      this.failedRun = true;
      for (const slot of chunk) this.setResult(slot, XLVS_PROBE_IDLE);
      out = { sent: [], unsent: [], errno: 0, notBuilt: chunk };
    }
    // On a veth the answer can be back before the send returns: poll() sees it.
    for (const slot of out.sent) this.live.push(slot);
    for (const slot of out.unsent) this.notSent(slot, out.errno);
    for (const slot of out.notBuilt) this.notBuilt(slot);
    if (this.live.length > 0) this.pollTimer ??= setInterval(() => this.poll(), SYN_POLL_MS);
  }

  /** sent_ns of the frames about to leave: the clock bpf_ktime_get_ns() reads (CLOCK_MONOTONIC). */
  private stampSent(built: readonly number[]): void {
    const now = process.hrtime.bigint();
    for (const slot of built) this.view.setBigUint64(slot * this.stride + this.off['sent_ns']!, now, true);
  }

  private setResult(slot: number, r: number): void {
    this.view.setUint32(slot * this.stride + this.off['result']!, r, true);
  }

  /** Built, but the device took no more frames: sent again shortly when its queue was full. */
  private notSent(slot: number, errno: number): void {
    this.setResult(slot, XLVS_PROBE_IDLE);
    const o = this.out[slot]!;
    if ((errno === ENOBUFS || errno === EAGAIN) && performance.now() + SYN_RESEND_MS < o.deadline) {
      setTimeout(() => this.requeue(slot), SYN_RESEND_MS);
      return;
    }
    this.release(slot);
    this.opts.log.warn({ slot, errno, target: `${o.target.address}:${o.target.port}`, via: o.target.viaReal }, 'health probe built but not sent');
    o.resolve({ ok: false, reason: `not sent: the private interface refused the frame (errno ${errno})`, ms: Math.round((performance.now() - o.started) * 10) / 10 });
  }

  /** The data plane built no frame for slot: its result says why. */
  private notBuilt(slot: number): void {
    const r = this.result(slot);
    const o = this.out[slot]!;
    // A VIP check has no socket to fall back on (the VIP is this router's own address): while
    // the real's MAC is being resolved (the daemon keeps reals' neighbours resolved; at start
    // they may not be yet) it is sent again a little later, within its deadline.
    if (r === XLVS_PROBE_NO_NEIGH && o.target.viaReal !== undefined && performance.now() + SYN_RESEND_MS < o.deadline) {
      this.setResult(slot, XLVS_PROBE_IDLE);
      setTimeout(() => this.requeue(slot), SYN_RESEND_MS);
      return;
    }
    this.release(slot);
    if (r !== XLVS_PROBE_NO_NEIGH && r !== XLVS_PROBE_NO_ROUTE && !this.failedRun) {
      this.opts.log.warn({ slot, result: r, target: `${o.target.address}:${o.target.port}`, via: o.target.viaReal }, 'health probe not built by the data plane');
    }
    if (o.target.viaReal !== undefined) {
      o.resolve({ ok: false, reason: `not sent: ${NOT_SENT[r] ?? `result ${r}`} (real ${o.target.viaReal})`, ms: 0 });
      return;
    }
    this.fallBack(o.target, Math.max(1, Math.round(o.deadline - performance.now())), o.signal, o.started, NOT_SENT[r] ?? `result ${r}`).then(o.resolve);
  }

  /** Queues a slot that waits for its real's MAC again (see send()). */
  private requeue(slot: number): void {
    const o = this.out[slot];
    if (this.closed || o === undefined) return;
    this.queued[o.target.family].push(slot);
    this.flushTimer ??= setTimeout(() => this.flush(), SYN_FLUSH_MS);
  }

  private poll(): void {
    const now = performance.now();
    const live = this.live;
    for (let i = 0; i < live.length; ) {
      const slot = live[i]!;
      const o = this.out[slot]!;
      const r = this.result(slot);
      let res: ProbeResult | undefined;
      if (r === XLVS_PROBE_OPEN || r === XLVS_PROBE_REFUSED) {
        const base = slot * this.stride;
        const rtt = Number(this.view.getBigUint64(base + this.off['answered_ns']!, true) - this.view.getBigUint64(base + this.off['sent_ns']!, true)) / 1e6;
        const ms = Math.round(Math.max(0, rtt) * 10) / 10;
        if (r === XLVS_PROBE_OPEN) {
          res = { ok: true, reason: 'connected (SYN-ACK)', ms };
        } else {
          res = { ok: false, reason: 'connect ECONNREFUSED (RST)', ms };
        }
      } else if (r === XLVS_PROBE_UNREACHABLE) {
        const base = slot * this.stride;
        const type = this.view.getUint8(base + this.off['icmp_type']!);
        const code = this.view.getUint8(base + this.off['icmp_code']!);
        res = { ok: false, reason: `connect ${icmpReason(o.target.family, type, code)}`, ms: Math.round((now - o.started) * 10) / 10 };
      } else if (now >= o.deadline) {
        res = { ok: false, reason: `timeout after ${o.timeoutMs} ms connecting (no SYN-ACK)`, ms: o.timeoutMs, timedOut: true };
      }
      // An aborted probe (its target removed, the scheduler's backstop) is not looked for here:
      // its result is ignored anyway and its slot is back by its deadline. Reading
      // signal.aborted for every probe out, every poll, was 4% of the daemon at 10,000 checks.
      if (res === undefined) {
        i++;
        continue;
      }
      // swap-remove: order does not matter
      live[i] = live[live.length - 1]!;
      live.pop();
      this.settle(slot, res);
    }
    if (live.length === 0 && this.pollTimer) {
      clearInterval(this.pollTimer);
      this.pollTimer = undefined;
    }
  }

  private settle(slot: number, res: ProbeResult): void {
    const o = this.out[slot];
    this.release(slot);
    o?.resolve(res);
  }

  private release(slot: number): void {
    if (this.out[slot] === undefined) return;
    this.out[slot] = undefined;
    if (!this.closed) this.setResult(slot, XLVS_PROBE_IDLE);
    this.slots.give(slot);
  }

  /** The socket probe for a round the data plane could not send (`why`), which the reason names. */
  private fallBack(target: SynTarget, timeoutMs: number, signal: AbortSignal, started: number, why: string): Promise<ProbeResult> {
    if (target.viaReal !== undefined) return Promise.resolve({ ok: false, reason: `not sent: ${why} (real ${target.viaReal})`, ms: 0 });
    const waited = performance.now() - started;
    return this.opts.fallback(target, timeoutMs, signal).then((r) => ({ ...r, reason: `${r.reason} (by connect(): ${why})`, ms: Math.round((r.ms + waited) * 10) / 10 }));
  }
}
