// SPDX-License-Identifier: Apache-2.0
// The udp health probe (issue 5): send a payload from a connected socket, then either expect a
// reply (the first datagram is judged) or, with `noReply`, count silence until the timeout as
// healthy. Connecting the socket is what makes the kernel hand us an ICMP port unreachable as
// ECONNREFUSED, so "nobody listens there" is a failure in both modes.
//
// Silence is weak evidence: a real's kernel sends one destination at most one ICMP error a
// second once a burst of six is spent (net.ipv4.icmp_ratelimit, net.ipv6.icmp.ratelimit), and
// every port of that real draws on the same budget. Measured here: two closed ports probed five
// times a second each got 3 unreachables each, then one a second between them, and silence for
// the rest; a no_reply check took that silence for health and flapped up. So a silence within
// UNREACHABLE_WINDOW_MS of a port unreachable from the same address proves nothing: the check
// keeps its last conclusive verdict (the reason says so) until the window has passed.

import { createSocket } from 'node:dgram';
import { InvalidArgumentError } from '../../errors.js';
import { type Expect, mismatchReason, parseExpect, parseSend, replyMatches } from './expect.js';
import { type ProbeResult, type ProbeTarget, checkTarget, checkTimeout, errorReason, runProbe } from './index.js';

/**
 * How long after a port unreachable from an address silence from it proves nothing: the
 * kernel's one error a second, plus a second for the next probe to find the budget refilled.
 */
export const UNREACHABLE_WINDOW_MS = 2000;

/** When each real address last answered port unreachable; shared by every udp check. */
export class UnreachableLog {
  private readonly last = new Map<string, number>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  note(address: string): void {
    this.last.set(address, this.now());
  }

  /** ms since `address` last answered port unreachable, if within UNREACHABLE_WINDOW_MS. */
  recent(address: string): number | undefined {
    const at = this.last.get(address);
    if (at === undefined) return undefined;
    const ago = this.now() - at;
    if (ago < UNREACHABLE_WINDOW_MS) return ago;
    this.last.delete(address);
    return undefined;
  }
}

/** One udp check's memory across its probes: the shared log, and its last conclusive verdict. */
export interface UdpMemory {
  readonly unreachable: UnreachableLog;
  conclusive?: { ok: boolean; reason: string };
}

/** A silence that proves nothing: the check's last conclusive verdict again, saying why. */
export function inconclusiveSilence(address: string, agoMs: number, timeoutMs: number, conclusive: UdpMemory['conclusive']): { ok: boolean; reason: string } {
  const before = conclusive === undefined ? 'no verdict yet, so failing' : `as before: ${conclusive.reason}`;
  return {
    ok: conclusive?.ok ?? false,
    reason: `no reply within ${timeoutMs} ms, but ${address} answered port unreachable ${Math.round(agoMs)} ms ago and rate-limits those: inconclusive; ${before}`,
  };
}

export interface UdpProbeOptions {
  readonly timeoutMs: number;
  /** nanny-style payload (escapes \n \r \t \\); empty or absent sends an empty datagram. */
  readonly send?: string;
  /** Literal, /regex/flags or `*` (the default when a reply is required). */
  readonly expect?: string;
  /** Healthy when nothing comes back before the timeout; an ICMP unreachable is still a failure. */
  readonly noReply?: boolean;
}

interface UdpPlan {
  readonly timeoutMs: number;
  readonly send: Uint8Array;
  readonly expect: Expect | undefined;
}

function planUdp(target: ProbeTarget, opts: UdpProbeOptions): UdpPlan {
  checkTarget(target);
  if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('opts', opts, 'must be an object');
  if (opts.noReply !== undefined && typeof opts.noReply !== 'boolean') {
    throw new InvalidArgumentError('noReply', opts.noReply, 'must be true or false');
  }
  if (opts.noReply && opts.expect !== undefined) {
    throw new InvalidArgumentError('expect', opts.expect, 'cannot be combined with noReply: true');
  }
  return {
    timeoutMs: checkTimeout(opts.timeoutMs),
    send: opts.send === undefined ? new Uint8Array(0) : parseSend('send', opts.send),
    expect: opts.noReply ? undefined : parseExpect('expect', opts.expect ?? '*'),
  };
}

/**
 * One probe. With `memory` (a check's, across its probes), port unreachables are logged for
 * the address and a no_reply silence is judged against them (see the top of this file).
 */
export async function probeUdp(target: ProbeTarget, opts: UdpProbeOptions, signal: AbortSignal, memory?: UdpMemory): Promise<ProbeResult> {
  const family = checkTarget(target);
  const plan = planUdp(target, opts);
  let sent = false;
  let inconclusive = false;
  const silence = (): { ok: boolean; reason: string } => {
    const ago = memory?.unreachable.recent(target.address);
    if (ago === undefined) return { ok: true, reason: `no reply and no port unreachable within ${plan.timeoutMs} ms` };
    inconclusive = true;
    return inconclusiveSilence(target.address, ago, plan.timeoutMs, memory!.conclusive);
  };
  const timeout = () =>
    plan.expect
      ? { ok: false, reason: `timeout after ${plan.timeoutMs} ms ${sent ? 'waiting for a reply' : 'sending'}` }
      : sent
        ? silence()
        : { ok: false, reason: `timeout after ${plan.timeoutMs} ms sending` };
  const r = await runProbe(signal, plan.timeoutMs, timeout, (finish) => {
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') {
        memory?.unreachable.note(target.address);
        finish(false, 'port unreachable (ECONNREFUSED)');
      } else finish(false, errorReason(sent ? 'read' : 'send', err));
    });
    socket.on('message', (msg: Buffer) => {
      if (!plan.expect) {
        finish(true, `replied (${msg.length} bytes)`);
        return;
      }
      if (replyMatches(plan.expect, msg)) finish(true, `reply matched ${plan.expect.source}`);
      else finish(false, mismatchReason(plan.expect, msg));
    });
    socket.connect(target.port, target.address, () => {
      socket.send(plan.send, (err) => {
        if (err) finish(false, errorReason('send', err));
        else sent = true;
      });
    });
    return () => {
      try {
        socket.close();
      } catch (err) {
        // close() throws only when already closed (ERR_SOCKET_DGRAM_NOT_RUNNING): nothing left to free.
        if ((err as NodeJS.ErrnoException).code !== 'ERR_SOCKET_DGRAM_NOT_RUNNING') throw err;
      }
    };
  });
  if (memory && !inconclusive && r.reason !== 'aborted') memory.conclusive = { ok: r.ok, reason: r.reason };
  return r;
}
