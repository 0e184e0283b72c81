// SPDX-License-Identifier: Apache-2.0
// Traffic to watch a failover with: N long-lived TCP connections each moving data (an echoed
// request every ~5 ms) and a 1 ms UDP probe stream, through a VIP to the lab's reals (their line
// service and UDP port, realserver.ts), run by failover-traffic-client.ts in the client
// namespace. Ask for a report at any moment: connections alive / reset / stalled (no echo for
// over 2 s) / closed, each connection's longest stall, and the longest gap in UDP answers with
// when it began. `mark()` forgets the maxima so far (warm-up), so the next report covers the
// event only. Bounded: the client stops itself after `durationMs`, and with its parent.
//
//   const t = await FailoverTraffic.start(lab, { ns: lab.ns.client, host: vip, tcpPort: 9000, udpPort: 5353, connections: 30, durationMs: 60_000 });
//   await t.mark(); ...kill the master...; const r = await t.report(); await t.stop();

import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { captureStderr, stopChild } from './child.js';
import { LabError } from './errors.js';
import type { ClientLine, TrafficReport } from './failover-traffic-report.js';

export type { TrafficReport, ConnReport, UdpReport } from './failover-traffic-report.js';

const CLIENT_JS = fileURLToPath(new URL('./failover-traffic-client.js', import.meta.url));
/** How long a REPORT / MARK may take to be answered. */
const ANSWER_TIMEOUT_MS = 5_000;

/** What the traffic needs from a lab (Lab and the HA lab both have it). */
export interface TrafficLab {
  spawn(ns: string, cmd: string[], opts?: SpawnOptions): ChildProcess;
  readonly log: Logger;
}

export interface FailoverTrafficOptions {
  /** Namespace the client runs in. */
  ns: string;
  /** The VIP, IPv4 or IPv6. */
  host: string;
  tcpPort: number;
  udpPort: number;
  /** Long-lived TCP connections, 1..1000. */
  connections: number;
  /** Hard stop of the client (it prints a final report and exits), ms. */
  durationMs: number;
  /** Echo request interval per connection (default 5 ms). */
  intervalMs?: number;
  /** UDP probe interval (default 1 ms). */
  probeMs?: number;
  /** No echo for longer than this counts a live connection as stalled (default 2000 ms). */
  stallMs?: number;
  /** Every connection up and the first probe answered within this (default 10 s). */
  readyTimeoutMs?: number;
}

export class FailoverTraffic {
  /** The report the client printed when it ended (stop, duration over, stdin closed). */
  final: TrafficReport | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (l: ClientLine) => void; reject: (e: Error) => void }>();
  private readonly ended: Promise<void>;

  private constructor(private readonly child: ChildProcess, private readonly tail: () => string, private readonly log: Logger) {
    this.ended = new Promise((resolve) => child.on('close', () => {
      for (const w of this.waiting.values()) w.reject(new LabError(`failover traffic client ended; stderr: ${this.tail()}`));
      this.waiting.clear();
      resolve();
    }));
  }

  static async start(lab: TrafficLab, o: FailoverTrafficOptions): Promise<FailoverTraffic> {
    const readyTimeoutMs = o.readyTimeoutMs ?? 10_000;
    const args = [
      '--host', o.host, '--tcp-port', String(o.tcpPort), '--udp-port', String(o.udpPort), '--connections', String(o.connections),
      '--duration-ms', String(o.durationMs), '--interval-ms', String(o.intervalMs ?? 5), '--probe-ms', String(o.probeMs ?? 1),
      '--stall-ms', String(o.stallMs ?? 2000), '--connect-timeout-ms', String(readyTimeoutMs),
    ];
    const child = lab.spawn(o.ns, [process.execPath, CLIENT_JS, ...args]);
    const tail = captureStderr(child, (line) => lab.log.debug({ line }, 'failover traffic stderr'));
    const t = new FailoverTraffic(child, tail, lab.log);
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new LabError(`failover traffic to ${o.host} not ready within ${readyTimeoutMs + 2000} ms; stderr: ${tail()}`)), readyTimeoutMs + 2000);
      t.onReady = (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      void t.ended.then(() => {
        clearTimeout(timer);
        reject(new LabError(`failover traffic client exited before ready (code ${child.exitCode}); stderr: ${tail()}`));
      });
    });
    t.listen();
    try {
      await ready;
    } catch (err) {
      await stopChild(child);
      throw err;
    }
    return t;
  }

  private onReady: (err?: Error) => void = () => undefined;

  private listen(): void {
    if (this.child.stdout === null) throw new LabError('failover traffic client has no stdout pipe');
    createInterface({ input: this.child.stdout }).on('line', (text) => {
      let line: ClientLine;
      try {
        line = JSON.parse(text) as ClientLine;
      } catch (err) {
        this.log.warn({ err, text }, 'failover traffic printed a non-JSON line');
        return;
      }
      if (line.type === 'ready') this.onReady();
      else if (line.type === 'error') {
        this.onReady(new LabError(`failover traffic client: ${line.error}`));
        this.log.error({ error: line.error }, 'failover traffic client error');
      } else if (line.type === 'final') this.final = line.report;
      else {
        const w = this.waiting.get(line.id);
        this.waiting.delete(line.id);
        w?.resolve(line);
      }
    });
  }

  private ask(cmd: 'REPORT' | 'MARK'): Promise<ClientLine> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new LabError(`failover traffic client did not answer ${cmd} within ${ANSWER_TIMEOUT_MS} ms`));
      }, ANSWER_TIMEOUT_MS);
      this.waiting.set(id, {
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      if (this.child.stdin === null || this.child.stdin.destroyed) reject(new LabError('failover traffic client stdin is closed'));
      else this.child.stdin.write(`${cmd} ${id}\n`);
    });
  }

  /** The figures now (longest gap and stalls since the start or the last mark). */
  async report(): Promise<TrafficReport> {
    const line = await this.ask('REPORT');
    if (line.type !== 'report') throw new LabError(`expected a report, got ${JSON.stringify(line)}`);
    return line.report;
  }

  /** Forgets the longest UDP gap and connection stalls so far; resolves once the client has. */
  async mark(): Promise<void> {
    await this.ask('MARK');
  }

  /** Stops the client; its final report (undefined only if it died without one). */
  async stop(): Promise<TrafficReport | undefined> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin?.write('STOP\n');
      const timer = setTimeout(() => void stopChild(this.child), ANSWER_TIMEOUT_MS);
      await this.ended;
      clearTimeout(timer);
    }
    return this.final;
  }
}
