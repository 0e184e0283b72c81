// SPDX-License-Identifier: Apache-2.0
// What the connections benchmark runs in: a lab with four reals, each running nginx, and the
// four ways to reach them from the client (xlvs, nftables, HAProxy, or straight to one real),
// of which at most one balancer is active at a time. close() removes it all, also after a failure.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pino from 'pino';
import { Lab } from '../../lab/lab.js';
import { NginxReal } from '../peers/nginx.js';
import { HaproxyPeer, type HaproxySpec } from '../peers/haproxy.js';
import { flushConntrack, startNft, stopNft } from '../peers/nftables.js';
import { XlvsPeer } from '../peers/xlvs.js';
import { wrkArgv, parseWrk, type WrkOptions, type WrkResult } from './connections-wrk.js';
import { BenchError } from '../common/errors.js';

export const PEERS = ['xlvs', 'nftables', 'haproxy', 'direct'] as const;
export type PeerName = (typeof PEERS)[number];

export const REAL_COUNT = 4;
export const PORT = 80;
export const HAPROXY_TUNING: Pick<HaproxySpec, 'threads' | 'maxconn' | 'balance'> = { threads: 2, maxconn: 8_000, balance: 'roundrobin' };

/** A balancer while it is active; stop() leaves the router plain again. */
export interface ActivePeer {
  name: PeerName;
  /** Set for xlvs: its programs' pins, for run-time statistics. */
  xlvs?: XlvsPeer;
  stop(): Promise<void>;
}

export interface WrkRun {
  argv: string[];
  raw: string;
  result: WrkResult;
}

export class ConnectionsEnv {
  private constructor(
    readonly lab: Lab,
    private readonly dir: string,
    private readonly reals: NginxReal[],
  ) {}

  static async create(log: pino.Logger): Promise<ConnectionsEnv> {
    const lab = await Lab.create({ reals: REAL_COUNT, log });
    const dir = mkdtempSync(join(tmpdir(), `${lab.prefix}conn-`));
    const reals: NginxReal[] = [];
    try {
      // HAProxy opens a connection to a real for each client connection, from the router's own
      // ports: the same short-connection settings as the client's (LAB.md), or it runs out of them.
      await lab.exec(lab.ns.router, ['sysctl', '-q', '-w', 'net.ipv4.tcp_tw_reuse=1', 'net.ipv4.ip_local_port_range=1024 65535']);
      for (let i = 0; i < REAL_COUNT; i++) reals.push(await NginxReal.start(lab, lab.ns.reals[i]!, lab.addr.reals[i]!, PORT, join(dir, `nginx-rs${i + 1}`)));
      return new ConnectionsEnv(lab, dir, reals);
    } catch (e) {
      await new ConnectionsEnv(lab, dir, reals).close(log);
      throw e;
    }
  }

  /** Where wrk connects for a peer: the VIP, or the first real for the baseline. */
  url(peer: PeerName): string {
    return `http://${peer === 'direct' ? this.lab.addr.reals[0]! : this.lab.addr.vip}:${PORT}/`;
  }

  async activate(peer: PeerName): Promise<ActivePeer> {
    const { lab } = this;
    const spec = { vip: lab.addr.vip, port: PORT, reals: lab.addr.reals, realPort: PORT };
    switch (peer) {
      case 'xlvs': {
        const x = await XlvsPeer.start(lab, spec);
        return { name: peer, xlvs: x, stop: () => x.stop() };
      }
      case 'nftables': {
        await startNft(lab, lab.ns.router, { ...spec, proto: 'tcp' });
        return { name: peer, stop: () => stopNft(lab, lab.ns.router) };
      }
      case 'haproxy': {
        const h = await HaproxyPeer.start(lab, lab.ns.router, { ...spec, ...HAPROXY_TUNING }, this.dir);
        return { name: peer, stop: () => h.stop() };
      }
      case 'direct':
        return { name: peer, stop: () => Promise.resolve() };
    }
  }

  /** conntrack -F in the router: nftables' TIME_WAIT entries of one run must not weigh on the next. */
  flushConntrack(): Promise<void> {
    return flushConntrack(this.lab, this.lab.ns.router);
  }

  async wrk(o: WrkOptions): Promise<WrkRun> {
    const argv = wrkArgv(o);
    // Bounded: wrk stops itself after o.seconds; the slack covers its start and the last timeouts.
    const { stdout } = await this.lab.exec(this.lab.ns.client, argv, { timeoutMs: (o.seconds + o.timeoutSeconds + 10) * 1000 });
    try {
      return { argv, raw: stdout, result: parseWrk(stdout) };
    } catch (e) {
      throw new BenchError(`${argv.join(' ')}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  async close(log: pino.Logger): Promise<void> {
    for (const r of this.reals) await r.stop().catch((e: unknown) => log.error({ err: e }, 'connections bench: stopping nginx failed'));
    try {
      await this.lab.destroy();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
