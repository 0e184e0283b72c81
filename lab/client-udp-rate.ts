// SPDX-License-Identifier: Apache-2.0
// A constant-rate UDP stream from one socket (one flow): a datagram every 1000/rate ms for the
// duration, each answered by the real server's name. Counts, per second of the stream, what was
// sent and what came back (by when it was sent: every datagram carries its sequence number and
// the second it belongs to is the sender's), so a gap shows as the seconds it fell in. UDP does
// not retransmit: a datagram lost while the router changes hands stays lost, unlike TCP.

import { createSocket } from 'node:dgram';

export interface UdpRateResult {
  sent: number[];
  received: number[];
  sentTotal: number;
  receivedTotal: number;
  /** Replies by real server name. */
  reals: Record<string, number>;
}

/** Replies may carry only the real's name, not our sequence: count them in order of arrival
 * against the datagrams sent, oldest first (a reply never overtakes its request on one flow). */
export function udpRate(host: string, port: number, rate: number, durationMs: number, graceMs = 1000): Promise<UdpRateResult> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const seconds = Math.ceil(durationMs / 1000);
    const r: UdpRateResult = { sent: new Array<number>(seconds).fill(0), received: new Array<number>(seconds).fill(0), sentTotal: 0, receivedTotal: 0, reals: {} };
    const sentAt: number[] = [];
    const t0 = Date.now();
    const interval = 1000 / rate;
    sock.on('error', reject);
    sock.on('message', (msg) => {
      const second = sentAt[r.receivedTotal];
      if (second !== undefined) r.received[second]!++;
      r.receivedTotal++;
      const name = msg.toString('utf8').trim();
      r.reals[name] = (r.reals[name] ?? 0) + 1;
    });
    let n = 0;
    const tick = (): void => {
      const elapsed = Date.now() - t0;
      // Catch up after a late timer so the rate holds on a busy machine.
      while (n * interval <= elapsed && n * interval < durationMs) {
        const second = Math.floor((n * interval) / 1000);
        sentAt.push(second);
        r.sent[second]!++;
        r.sentTotal++;
        sock.send(`seq ${n}`, port, host);
        n++;
      }
      if (n * interval < durationMs) setTimeout(tick, Math.max(1, interval / 2));
      else setTimeout(() => {
        sock.close();
        resolve(r);
      }, graceMs);
    };
    tick();
  });
}
