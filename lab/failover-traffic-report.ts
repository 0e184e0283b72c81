// SPDX-License-Identifier: Apache-2.0
// What lab/failover-traffic-client.ts reports (shared with its parent, lab/failover-traffic.ts),
// and the one piece of arithmetic both of its streams use: the longest gap between answers.

/** The longest time without an answer, counting the gap still open at `now`. Times are ms. */
export class GapTracker {
  private last: number;
  private longest = 0;
  private longestFrom: number;

  constructor(start: number) {
    this.last = start;
    this.longestFrom = start;
  }

  /** An answer arrived at `now`. */
  answer(now: number): void {
    this.close(now);
    this.last = now;
  }

  /** Forgets the maxima; the gap open since the last answer keeps counting from that answer. */
  mark(): void {
    this.longest = 0;
    this.longestFrom = this.last;
  }

  /** When the last answer came. */
  get lastAnswer(): number {
    return this.last;
  }

  /** The longest gap so far (including the open one at `now`) and when it began. */
  longestAt(now: number): { ms: number; from: number } {
    const open = now - this.last;
    return open > this.longest ? { ms: open, from: this.last } : { ms: this.longest, from: this.longestFrom };
  }

  private close(now: number): void {
    const gap = now - this.last;
    if (gap > this.longest) {
      this.longest = gap;
      this.longestFrom = this.last;
    }
  }
}

export type ConnState = 'alive' | 'reset' | 'closed' | 'error';

export interface ConnReport {
  /** 0-based connection index. */
  i: number;
  state: ConnState;
  /** Alive, but no echo for longer than the stall threshold. */
  stalled: boolean;
  /** Requests sent and echoes received (since the start). */
  sent: number;
  echoed: number;
  /** Echoes that did not match the request they answered (a broken stream). */
  mismatched: number;
  /** Longest time without an echo since the last mark (the open gap included), ms. */
  longestStallMs: number;
  /** Why it ended (reset, closed, error), with the socket's error code. */
  error?: string;
}

export interface UdpReport {
  sent: number;
  received: number;
  /** Answers whose sequence number was never sent, or came twice. */
  bogus: number;
  /** Probes the socket could not send (no route or neighbour while a link is down). */
  sendErrors: number;
  /** Longest time between two answers since the last mark (the open gap included), ms. */
  longestGapMs: number;
  /** When that gap began: ms since the client started, and unix ms. */
  gapFromMs: number;
  gapFromUnixMs: number;
  /** When the last answer came, unix ms (0: none yet). */
  lastAnswerUnixMs: number;
  /** Answers per real server name (which real answered after a failover). */
  reals: Record<string, number>;
}

export interface TrafficReport {
  /** ms since the client started. */
  atMs: number;
  unixMs: number;
  connections: number;
  alive: number;
  reset: number;
  stalled: number;
  /** Ended by a FIN from the far side, or another socket error (ETIMEDOUT, EPIPE, ...). */
  closed: number;
  errored: number;
  /** Connections with at least one mismatched echo. */
  corrupt: number;
  /** Connections that are not alive-and-flowing: reset + stalled + closed + errored. */
  lost: number;
  /** Longest per-connection stall since the last mark, ms. */
  longestStallMs: number;
  perConnection: ConnReport[];
  udp: UdpReport;
}

/** Lines the client prints on stdout, one JSON object each. */
export type ClientLine =
  | { type: 'ready'; connections: number; ms: number }
  | { type: 'report'; id: number; report: TrafficReport }
  | { type: 'marked'; id: number }
  | { type: 'final'; why: string; report: TrafficReport }
  | { type: 'error'; error: string };
