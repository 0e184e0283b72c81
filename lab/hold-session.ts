// SPDX-License-Identifier: Apache-2.0
// The lab's view of a running `client.js hold`: the replies so far as they stream in, and the
// summary line once it ends.

import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { stopChild } from './child.js';
import { LabError } from './errors.js';

export interface HoldReply {
  seq: number;
  /** Name of the real server that answered this PING. */
  reply: string;
  /** ms since the client started connecting. */
  t: number;
  rtt: number;
}

export type HoldEnd = { done: true; sent: number; received: number } | { error: string; sent: number; received: number };

export class HoldSession {
  readonly replies: HoldReply[] = [];
  /** Resolves when the client ends: its summary, or an `error` end if it died without one. */
  readonly result: Promise<HoldEnd>;
  private readonly waiters = new Set<() => void>();
  private readonly listeners: Array<(reply: HoldReply) => void> = [];
  private closed = false;

  constructor(private readonly child: ChildProcess, stderrTail: () => string, log: Logger) {
    let end: HoldEnd | undefined;
    if (child.stdout === null) throw new LabError('hold client has no stdout pipe');
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch (err) {
        log.warn({ err, line }, 'hold client printed a non-JSON line');
        return;
      }
      if (typeof msg.seq === 'number') {
        const reply = msg as unknown as HoldReply;
        this.replies.push(reply);
        for (const listener of this.listeners) listener(reply);
        for (const wake of this.waiters) wake();
      } else {
        end = msg as unknown as HoldEnd;
      }
    });
    this.result = new Promise((resolve) => {
      // 'close' (not 'exit') waits for stdout to drain, so the summary line has been read.
      child.on('close', (code, signal) => {
        this.closed = true;
        for (const wake of this.waiters) wake();
        resolve(end ?? { error: `hold client exited (code ${code}, signal ${signal}) without a summary; stderr: ${stderrTail()}`, sent: -1, received: this.replies.length });
      });
    });
  }

  /** Calls `listener` for every reply from now on, as it arrives. */
  onReply(listener: (reply: HoldReply) => void): void {
    this.listeners.push(listener);
  }

  /** Waits until at least `n` replies have arrived; rejects if the session ends or time runs out first. */
  waitForReplies(n: number, timeoutMs: number): Promise<HoldReply[]> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.replies.length >= n) finish();
        else if (this.closed) finish(new LabError(`hold ended after ${this.replies.length} of ${n} replies`));
      };
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (err) reject(err);
        else resolve(this.replies.slice());
      };
      const timer = setTimeout(() => finish(new LabError(`only ${this.replies.length} of ${n} hold replies within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Ends the session early (the client prints its normal summary on SIGTERM). */
  async stop(): Promise<HoldEnd> {
    await stopChild(this.child);
    return this.result;
  }
}
