// SPDX-License-Identifier: Apache-2.0
// The tcp health probe (issue 5): connect within the timeout; with `send`, write it; with
// `expect`, read until the reply matches, the server closes, 64 KiB arrived, or time runs out.
// One timeout covers the whole probe, so a check never outlives its slot in the scheduler.

import { Socket } from 'node:net';
import { InvalidArgumentError } from '../../errors.js';
import { type Expect, mismatchReason, parseExpect, parseSend, replyMatches } from './expect.js';
import { type ProbeResult, type ProbeTarget, checkTarget, checkTimeout, errorReason, runProbe } from './index.js';

/** A reply longer than this without a match is a mismatch: a health check is not a download. */
export const TCP_MAX_REPLY_BYTES = 64 * 1024;

export interface TcpProbeOptions {
  readonly timeoutMs: number;
  /** nanny-style string (escapes \n \r \t \\) written after connecting. */
  readonly send?: string;
  /** Literal, /regex/flags or `*`; without it the probe succeeds once connected (and sent). */
  readonly expect?: string;
}

interface TcpPlan {
  readonly timeoutMs: number;
  readonly send: Uint8Array | undefined;
  readonly expect: Expect | undefined;
}

function planTcp(target: ProbeTarget, opts: TcpProbeOptions): TcpPlan {
  checkTarget(target);
  if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('opts', opts, 'must be an object');
  return {
    timeoutMs: checkTimeout(opts.timeoutMs),
    send: opts.send === undefined ? undefined : parseSend('send', opts.send),
    expect: opts.expect === undefined ? undefined : parseExpect('expect', opts.expect),
  };
}

// Buffer.concat does not type-check with this @types/node under TS 5.9; Uint8Array.set does.
function append(head: Buffer, tail: Buffer): Buffer {
  const out = Buffer.allocUnsafe(head.length + tail.length);
  out.set(head, 0);
  out.set(tail, head.length);
  return out;
}

type Phase = 'connecting' | 'sending' | 'waiting for a reply';

export async function probeTcp(target: ProbeTarget, opts: TcpProbeOptions, signal: AbortSignal): Promise<ProbeResult> {
  const plan = planTcp(target, opts);
  let phase: Phase = 'connecting';
  let reply: Buffer = Buffer.alloc(0);
  const timeout = () => {
    const base = `timeout after ${plan.timeoutMs} ms ${phase}`;
    // What did arrive is the useful part of a timeout on a server that answers wrongly.
    return { ok: false, reason: phase === 'waiting for a reply' && plan.expect && reply.length > 0 ? `${base}: ${mismatchReason(plan.expect, reply)}` : base };
  };
  return runProbe(signal, plan.timeoutMs, timeout, (finish) => {
    const socket = new Socket();

    socket.on('error', (err) => finish(false, errorReason(phase === 'connecting' ? 'connect' : phase === 'sending' ? 'send' : 'read', err)));
    socket.on('close', () => {
      // Only reached without a verdict when the server closed before we were satisfied.
      if (phase === 'waiting for a reply' && plan.expect) finish(false, `connection closed: ${mismatchReason(plan.expect, reply)}`);
      else finish(false, `connection closed while ${phase}`);
    });
    socket.on('data', (chunk: Buffer) => {
      if (!plan.expect) return; // nothing asked of the reply; the verdict is already given
      const room = TCP_MAX_REPLY_BYTES - reply.length;
      reply = append(reply, chunk.length > room ? chunk.subarray(0, room) : chunk);
      if (phase !== 'waiting for a reply') return; // judged once our request is fully written
      judge();
    });

    const judge = (): void => {
      const expect = plan.expect as Expect;
      if (replyMatches(expect, reply)) finish(true, `reply matched ${expect.source}`);
      else if (reply.length >= TCP_MAX_REPLY_BYTES) finish(false, `${mismatchReason(expect, reply)} within ${TCP_MAX_REPLY_BYTES} bytes`);
    };

    const afterSend = (): void => {
      if (!plan.expect) {
        finish(true, plan.send ? 'connected and sent' : 'connected');
        return;
      }
      phase = 'waiting for a reply';
      judge(); // a banner may already have arrived while we were writing
    };

    socket.once('connect', () => {
      if (!plan.send || plan.send.length === 0) {
        afterSend();
        return;
      }
      phase = 'sending';
      socket.write(plan.send, (err) => {
        if (err) finish(false, errorReason('send', err));
        else afterSend();
      });
    });
    socket.connect({ host: target.address, port: target.port });
    // Closed with a reset (SO_LINGER 0), as HAProxy closes its checks: no FIN exchange and no
    // TIME_WAIT socket per probe on the router (10,000 checks a second would hold 600,000).
    return () => {
      if (socket.connecting || socket.destroyed) socket.destroy();
      else socket.resetAndDestroy();
    };
  });
}
