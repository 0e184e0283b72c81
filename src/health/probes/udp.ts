// SPDX-License-Identifier: Apache-2.0
// The udp health probe (issue 5): send a payload from a connected socket, then either expect a
// reply (the first datagram is judged) or, with `noReply`, count silence until the timeout as
// healthy. Connecting the socket is what makes the kernel hand us an ICMP port unreachable as
// ECONNREFUSED, so "nobody listens there" is a failure in both modes.

import { createSocket } from 'node:dgram';
import { InvalidArgumentError } from '../../errors.js';
import { type Expect, mismatchReason, parseExpect, parseSend, replyMatches } from './expect.js';
import { type ProbeResult, type ProbeTarget, checkTarget, checkTimeout, errorReason, runProbe } from './index.js';

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

export async function probeUdp(target: ProbeTarget, opts: UdpProbeOptions, signal: AbortSignal): Promise<ProbeResult> {
  const family = checkTarget(target);
  const plan = planUdp(target, opts);
  let sent = false;
  const timeout = () =>
    plan.expect
      ? { ok: false, reason: `timeout after ${plan.timeoutMs} ms ${sent ? 'waiting for a reply' : 'sending'}` }
      : sent
        ? { ok: true, reason: `no reply and no port unreachable within ${plan.timeoutMs} ms` }
        : { ok: false, reason: `timeout after ${plan.timeoutMs} ms sending` };
  return runProbe(signal, plan.timeoutMs, timeout, (finish) => {
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') finish(false, 'port unreachable (ECONNREFUSED)');
      else finish(false, errorReason(sent ? 'read' : 'send', err));
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
}
