// SPDX-License-Identifier: Apache-2.0
// Two real xlvsd daemons, r1 (priority 150, preferred) and r2 (100), in the HA lab
// (lab/ha-lab.ts): their configs (one method for every service, both families), the shared key,
// start/stop/kill of each, and waits on what their APIs report. Used by the HA integration
// tests and the failover benchmark.

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHaLab, type HaLab, type RouterName } from '../lab/ha-lab.js';
import { XlvsdProcess } from '../lab/xlvsd-process.js';
import type { HaStatus, Role } from '../src/ha/types.js';
import { attachDecap, holdVips, removeDecapPins } from '../lab/method-reals.js';

export type Method = 'nat' | 'dr' | 'tun' | 'fullnat';

export interface PairOptions {
  method?: Method;
  intervalMs?: number;
  deadIntervals?: number;
  restartHoldMs?: number;
  preempt?: boolean;
  /** Extra lines appended to each router's ha: section (indented by the caller). */
  haExtra?: string;
  /** Build the lab with this many reals (default 3). */
  reals?: number;
  /** flow_entries of both routers (default the daemon's). */
  flowEntries?: number;
  /** The routers create() starts (default both); start the others later with start(). */
  routers?: RouterName[];
}

const PRIORITY: Record<RouterName, number> = { r1: 150, r2: 100 };
const OTHER: Record<RouterName, RouterName> = { r1: 'r2', r2: 'r1' };
export const TCP_PORT = 9000;
export const UDP_PORT = 5353;
/** The routers' local addresses (full-NAT sources, tun outer sources): floating, like the VIPs. */
export const LOCAL = { v4: '10.77.0.5', v6: 'fd00:77::5' } as const;

/** The config of router `r` in the pair. */
export function pairConfig(lab: HaLab, r: RouterName, keyFile: string, o: PairOptions): string {
  const method = o.method ?? 'nat';
  const a4 = lab.addr.v4;
  const a6 = lab.addr.v6;
  const peer = OTHER[r];
  const reals = (addrs: string[]): string => addrs.map((x) => `      - { address: "${x}", method: ${method} }`).join('\n');
  const service = (vip: string, port: number, proto: string, addrs: string[]): string =>
    `  - vip: "${vip}"\n    port: ${port}\n    protocol: ${proto}\n    scheduler: rr\n    reals:\n${reals(addrs)}\n`;
  return `interfaces: { public: ${lab.ifaces.public}, private: ${lab.ifaces.private} }
${o.flowEntries === undefined ? '' : `flow_entries: ${o.flowEntries}\n`}local_addresses: { v4: ${LOCAL.v4}, v6: "${LOCAL.v6}" }
source_validation: { mode: loose }
ha:
  node: ${r}
  priority: ${PRIORITY[r]}
  local: { public: ${a4[r].public}, private: ${a4[r].private} }
  peer: { name: ${peer}, public: ${a4[peer].public}, private: ${a4[peer].private} }
  interval_ms: ${o.intervalMs ?? 100}
  dead_intervals: ${o.deadIntervals ?? 3}
  key_file: ${keyFile}
  preempt: ${o.preempt ?? true}
  restart_hold_ms: ${o.restartHoldMs ?? 10000}
  gateway: [${a4.gateway}, "${a6.gateway}"]
  announce: { count: 3, spacing_ms: 10, refresh_ms: 0 }
${o.haExtra ?? ''}services:
${service(a4.vip, TCP_PORT, 'tcp', a4.reals)}${service(a4.vip, UDP_PORT, 'udp', a4.reals)}${service(a6.vip, TCP_PORT, 'tcp', a6.reals)}${service(a6.vip, UDP_PORT, 'udp', a6.reals)}`;
}

export class HaPair {
  readonly daemons: Partial<Record<RouterName, XlvsdProcess>> = {};
  private constructor(readonly lab: HaLab, readonly dir: string, readonly keyFile: string, readonly opts: PairOptions, private readonly ownsLab: boolean) {}

  /** A lab of its own, the key, real servers (dr, tun: the VIPs on their loopback, no ARP for them; tun: the decapsulator) and both daemons up. */
  static async create(o: PairOptions = {}): Promise<HaPair> {
    const lab = await createHaLab({ reals: o.reals ?? 3 });
    return HaPair.onLab(lab, o, { ownsLab: true, startReals: true });
  }

  /** The same in a lab someone else made (and removes); startReals: false when its reals already run. */
  static async onLab(lab: HaLab, o: PairOptions, how: { ownsLab: boolean; startReals: boolean }): Promise<HaPair> {
    const dir = mkdtempSync(join(tmpdir(), `${lab.prefix}ha-`));
    const keyFile = join(dir, 'ha.key');
    writeFileSync(keyFile, new Uint8Array(randomBytes(32)));
    chmodSync(keyFile, 0o600);
    const pair = new HaPair(lab, dir, keyFile, o, how.ownsLab);
    try {
      if (o.method === 'dr' || o.method === 'tun') await pair.vipReals(o.method);
      if (how.startReals) await lab.startRealServers();
      for (const r of o.routers ?? (['r1', 'r2'] as const)) await pair.start(r);
    } catch (e) {
      await pair.destroy();
      throw e;
    }
    return pair;
  }

  /**
   * dr and tun reals hold the VIPs on lo and neither answer nor announce ARP/ND for them; tun
   * reals strip the routers' tunnels (xlvs_decap on eth0: from the floating local addresses, so
   * from either router, to the VIPs).
   */
  private async vipReals(method: 'dr' | 'tun'): Promise<void> {
    const vips = [this.lab.addr.v4.vip, this.lab.addr.v6.vip];
    for (let i = 0; i < this.lab.ns.reals.length; i++) {
      await holdVips(this.lab, i, vips);
      if (method === 'tun') await attachDecap(this.lab, i, [LOCAL.v4, LOCAL.v6], vips);
    }
  }

  config(r: RouterName, o: PairOptions = this.opts): string {
    return pairConfig(this.lab, r, this.keyFile, o);
  }

  /** Starts router r's daemon (a restart when it ran before: same pin dir and state dir), with other options if given. */
  async start(r: RouterName, o: PairOptions = this.opts): Promise<XlvsdProcess> {
    const existing = this.daemons[r];
    if (existing) {
      existing.writeConfig(this.config(r, o));
      await existing.launch();
      return existing;
    }
    const d = await XlvsdProcess.start(this.lab, {
      namespace: this.lab.routerNs(r), config: this.config(r, o), pinDir: `/sys/fs/bpf/${this.lab.prefix}${r}`,
      readyTimeoutMs: 30_000,
    });
    this.daemons[r] = d;
    return d;
  }

  daemon(r: RouterName): XlvsdProcess {
    const d = this.daemons[r];
    if (!d) throw new Error(`router ${r} has no daemon`);
    return d;
  }

  status(r: RouterName): Promise<HaStatus> {
    return this.daemon(r).api.haStatus();
  }

  /** Polls r's status until pred holds; throws with the last status after timeoutMs. */
  async waitFor(r: RouterName, pred: (s: HaStatus) => boolean, timeoutMs: number, what: string): Promise<HaStatus> {
    const end = Date.now() + timeoutMs;
    let last: HaStatus | undefined;
    for (;;) {
      last = await this.status(r);
      if (pred(last)) return last;
      if (Date.now() > end) throw new Error(`${r}: ${what} not reached within ${timeoutMs} ms; last status: ${JSON.stringify(last)}`);
      await new Promise((res) => setTimeout(res, 20));
    }
  }

  waitRole(r: RouterName, role: Role, timeoutMs = 10_000): Promise<HaStatus> {
    return this.waitFor(r, (s) => s.role === role, timeoutMs, `role ${role}`);
  }

  /** r1 master, r2 backup, each holding the other's table. */
  async waitSteady(timeoutMs = 15_000): Promise<void> {
    await this.waitFor('r1', (s) => s.role === 'master' && s.sync.in.bulkDone && s.sync.out.bulkDone, timeoutMs, 'master in sync');
    await this.waitFor('r2', (s) => s.role === 'backup' && s.sync.in.bulkDone && s.sync.out.bulkDone, timeoutMs, 'backup in sync');
  }

  /** A hard failure: the router's links down first, then SIGKILL of its daemon. */
  async hardKill(r: RouterName): Promise<void> {
    await this.lab.linksDown(r);
    await this.daemon(r).kill9();
  }

  async destroy(): Promise<void> {
    const errors: unknown[] = [];
    for (const d of Object.values(this.daemons)) await d?.destroy().catch((e: unknown) => errors.push(e));
    if (this.ownsLab) await this.lab.destroy().catch((e: unknown) => errors.push(e));
    // The decapsulators' links went with the reals' namespaces; their pins are in the shared bpffs.
    if (this.opts.method === 'tun') for (let i = 0; i < this.lab.ns.reals.length; i++) removeDecapPins(this.lab, i);
    rmSync(this.dir, { recursive: true, force: true });
    if (errors.length > 0) throw new AggregateError(errors, 'HA pair clean-up failed');
  }
}
