// SPDX-License-Identifier: Apache-2.0
// The HA lab: a client, two routers (r1, r2), a switch namespace with a public and a private
// bridge, and N real servers, each namespace named after a per-lab prefix. See ha-topology.ts
// for the layout. It assumes no balancer: xlvs, or keepalived + nftables, runs in the routers
// and adds the floating addresses itself.

import { spawn as spawnChild, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { resolve as resolvePath } from 'node:path';
import type { Logger } from 'pino';
import { LabError } from './errors.js';
import { NETNS_DIR, nsArgv, run, type RunResult } from './proc.js';
import { captureStderr, hasExited, stopChild, waitForLine } from './child.js';
import { guard, unguard, type SyncTeardown } from './exit-guard.js';
import { DEFAULT_PASS_OBJECT, defaultLogger } from './lab.js';
import {
  allHaNamespaces, haAddresses, haNamespaces, haWiringSteps, LAB_PORTS, MAX_HA_REALS, PRIVATE_IFACE, PUBLIC_IFACE, ROUTERS,
  type HaAddresses, type HaNamespaces, type RouterName,
} from './ha-topology.js';
import {
  deleteNamespace, killNamespacePids, killQuietly, listNamespaces, PREFIX_PATTERN, removeRecord, removeRecordSync, REGISTRY_DIR, writeRecord,
} from './registry.js';
import { inNetns } from '../src/kernel/test-run.js';
import { Netlink } from '../src/host/netlink.js';
import { getNeighbour } from '../src/host/neighbours.js';
import { decodeLink, getLinkByName } from '../src/host/rtnl-messages.js';
import { NetlinkError } from '../src/errors.js';

export type { HaAddresses, HaFamilyAddresses, HaNamespaces, RouterName } from './ha-topology.js';
export { ROUTERS, LAB_PORTS } from './ha-topology.js';

const REALSERVER_JS = fileURLToPath(new URL('./realserver.js', import.meta.url));
const DEFAULT_REALS = 3;
const READY_TIMEOUT_MS = 10_000;
const ENOENT = 2;

export interface HaLabOptions {
  /** Namespace name prefix, `xlvs-<id>-` (default: a fresh random one). */
  prefix?: string;
  /** Real servers, 1..200 (default 3). */
  reals?: number;
  /** IPv6 as well as IPv4 (default true). */
  v6?: boolean;
  /** The XDP pass-through object on the switch ports facing the routers. */
  passObject?: string;
  log?: Logger;
}

export async function createHaLab(opts: HaLabOptions = {}): Promise<HaLab> {
  return HaLab.create(opts);
}

async function freshPrefix(): Promise<string> {
  const taken = await listNamespaces();
  for (let attempt = 0; attempt < 32; attempt++) {
    const prefix = `xlvs-${randomBytes(2).toString('hex')}-`;
    if (!taken.some((n) => n.startsWith(prefix))) return prefix;
  }
  throw new LabError('no free lab prefix after 32 attempts; run removeStaleLabs()');
}

export class HaLab implements SyncTeardown {
  readonly ns: HaNamespaces;
  readonly addr: HaAddresses;
  readonly ifaces = { public: PUBLIC_IFACE, private: PRIVATE_IFACE } as const;
  readonly ports = LAB_PORTS;
  private readonly children = new Set<ChildProcess>();
  private readonly realServers: Array<ChildProcess | undefined>;
  private readonly created: string[] = [];
  /** Netlink sockets for the read-only helpers, one per namespace, opened on first use. */
  private readonly sockets = new Map<string, Netlink>();
  private destroying: Promise<void> | undefined;

  private constructor(
    readonly prefix: string,
    reals: number,
    readonly v6: boolean,
    readonly passObject: string,
    readonly log: Logger,
  ) {
    this.ns = haNamespaces(prefix, reals);
    this.addr = haAddresses(reals);
    this.realServers = new Array<ChildProcess | undefined>(reals).fill(undefined);
  }

  static async create(opts: HaLabOptions = {}): Promise<HaLab> {
    const log = opts.log ?? defaultLogger();
    const reals = opts.reals ?? DEFAULT_REALS;
    if (!Number.isInteger(reals) || reals < 1 || reals > MAX_HA_REALS) throw new LabError(`reals must be 1..${MAX_HA_REALS} (got ${reals})`);
    const prefix = opts.prefix ?? (await freshPrefix());
    if (!PREFIX_PATTERN.test(prefix) || prefix.length > 32) throw new LabError(`lab prefix must look like xlvs-<id>- (got ${JSON.stringify(prefix)})`);
    const passObject = resolvePath(opts.passObject ?? DEFAULT_PASS_OBJECT);
    try {
      await access(passObject);
    } catch (err) {
      throw new LabError(`XDP pass object ${passObject} is missing; build it first (make build)`, { cause: err });
    }
    const lab = new HaLab(prefix, reals, opts.v6 ?? true, passObject, log.child({ lab: prefix }));
    try {
      await lab.build();
    } catch (err) {
      lab.log.error({ err }, 'HA lab creation failed; tearing down what was built');
      await lab.destroy().catch((cleanupErr: unknown) => lab.log.error({ err: cleanupErr }, 'teardown after failed creation also failed'));
      throw err;
    }
    return lab;
  }

  private async build(): Promise<void> {
    const t0 = Date.now();
    const names = allHaNamespaces(this.ns);
    const existing = new Set(await listNamespaces());
    const clash = names.filter((n) => existing.has(n));
    if (clash.length > 0) throw new LabError(`namespaces already exist: ${clash.join(', ')}`);
    // Record first and guard before adding anything, so a crash at any later point is cleaned up.
    await writeRecord(this.prefix, names);
    guard(this);
    for (const n of names) {
      await run(['ip', 'netns', 'add', n]);
      this.created.push(n);
    }
    for (const step of haWiringSteps(this.ns, this.addr, this.passObject, this.v6)) {
      try {
        await run(step.argv);
      } catch (err) {
        throw new LabError(`HA lab step "${step.what}" failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }
    this.log.info({ namespaces: names, ms: Date.now() - t0 }, 'HA lab created');
  }

  /** The namespace of router r1 or r2. */
  routerNs(router: RouterName): string {
    if (!ROUTERS.includes(router)) throw new LabError(`no router ${JSON.stringify(router)} (r1 or r2)`);
    return this.ns[router];
  }

  nsArgv(ns: string, cmd: string[]): string[] {
    return nsArgv(ns, cmd);
  }

  nsPath(ns: string): string {
    return `${NETNS_DIR}/${ns}`;
  }

  /** Runs a command in a namespace to completion; rejects with CommandError on failure. */
  exec(ns: string, cmd: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
    return run(nsArgv(ns, cmd), opts.timeoutMs);
  }

  /** Runs synchronous code with the thread in a namespace (netlink sockets, /proc/sys, raw sockets). */
  inNs<T>(ns: string, fn: () => T): T {
    return inNetns(this.nsPath(ns), fn);
  }

  /** Starts a long-lived command in a namespace; the lab kills it on destroy. Read its pipes. */
  spawn(ns: string, cmd: string[], opts: SpawnOptions = {}): ChildProcess {
    const [file, ...args] = nsArgv(ns, cmd);
    const child = spawnChild(file, args, { stdio: 'pipe', ...opts });
    this.children.add(child);
    child.on('error', (err) => this.log.error({ err, ns, cmd }, 'lab child process error'));
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** A router's failure as its neighbours see it: pub0 and priv0 down. */
  async linksDown(router: RouterName): Promise<void> {
    const ns = this.routerNs(router);
    for (const dev of [PUBLIC_IFACE, PRIVATE_IFACE]) await this.exec(ns, ['ip', 'link', 'set', dev, 'down']);
  }

  async linksUp(router: RouterName): Promise<void> {
    const ns = this.routerNs(router);
    for (const dev of [PUBLIC_IFACE, PRIVATE_IFACE]) await this.exec(ns, ['ip', 'link', 'set', dev, 'up']);
  }

  /**
   * The MAC `ns`'s neighbour table holds for `address` (on eth0 for the client and reals, or the
   * interface given), undefined when there is no entry or it has no MAC (INCOMPLETE, FAILED).
   * Read over netlink, no process: cheap enough to poll every millisecond.
   */
  neighbourOf(ns: string, address: string, dev = 'eth0'): string | undefined {
    const nl = this.netlink(ns);
    try {
      return getNeighbour(nl, address, dev)?.lladdr;
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === ENOENT) return undefined;
      throw e;
    }
  }

  /** The MAC of a router's interface ('pub0' / 'priv0', or the lab's names 'public' / 'private'). */
  macOf(router: RouterName, iface: string): string {
    const dev = iface === 'public' ? PUBLIC_IFACE : iface === 'private' ? PRIVATE_IFACE : iface;
    const [m] = this.netlink(this.routerNs(router)).get(getLinkByName(dev));
    const mac = m === undefined ? undefined : decodeLink(m).mac;
    if (mac === undefined) throw new LabError(`${router}:${dev} has no MAC address`);
    return mac;
  }

  private netlink(ns: string): Netlink {
    if (!this.created.includes(ns)) throw new LabError(`${ns} is not a namespace of lab ${this.prefix}`);
    let nl = this.sockets.get(ns);
    if (nl === undefined) {
      nl = this.inNs(ns, () => Netlink.open());
      this.sockets.set(ns, nl);
    }
    return nl;
  }

  /** Starts every real server (HTTP 80, TCP 9000, UDP 5353, on IPv4 and IPv6); resolves on READY. */
  async startRealServers(): Promise<void> {
    await Promise.all(this.ns.reals.map((_, i) => this.startRealServer(i)));
  }

  /** Starts real server `i` (0-based); a no-op if it runs already. */
  async startRealServer(i: number): Promise<void> {
    const ns = this.realNs(i);
    const running = this.realServers[i];
    if (running !== undefined && !hasExited(running)) return;
    const name = `rs${i + 1}`;
    const child = this.spawn(ns, [process.execPath, REALSERVER_JS, '--name', name, '--dual-stack', '1', '--exit-on-stdin-close', '1']);
    const tail = captureStderr(child, (line) => this.log.debug({ real: name, line }, 'real server stderr'));
    this.realServers[i] = child;
    try {
      await waitForLine(child, 'READY', READY_TIMEOUT_MS, tail);
    } catch (err) {
      await stopChild(child);
      throw new LabError(`real server ${name} did not start: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /** Stops real server `i` (0-based) and waits until it has exited. */
  async stopRealServer(i: number): Promise<void> {
    this.realNs(i);
    const child = this.realServers[i];
    this.realServers[i] = undefined;
    if (child !== undefined) await stopChild(child);
  }

  private realNs(i: number): string {
    const ns = this.ns.reals[i];
    if (!Number.isInteger(i) || ns === undefined) throw new LabError(`no real server with index ${i} (0..${this.ns.reals.length - 1})`);
    return ns;
  }

  /**
   * Kills every process the lab started (and anything left in its namespaces), closes its
   * sockets, deletes its namespaces. Idempotent; every step is tried, problems reported at the end.
   */
  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    unguard(this);
    let problems = 0;
    const problem = (err: unknown, msg: string, extra: object = {}): void => {
      problems += 1;
      this.log.error({ err, ...extra }, msg);
    };
    for (const nl of this.sockets.values()) nl.close();
    this.sockets.clear();
    await Promise.all([...this.children].map((c) => stopChild(c).catch((err: unknown) => problem(err, 'stopping a lab process failed', { pid: c.pid }))));
    const present = new Set(await listNamespaces());
    for (const ns of this.created) {
      if (!present.has(ns)) continue;
      try {
        const leftovers = await killNamespacePids(ns, this.log);
        if (leftovers.length > 0) this.log.warn({ ns, pids: leftovers }, 'killed processes the lab did not start');
        await deleteNamespace(ns);
      } catch (err) {
        problem(err, 'deleting lab namespace failed', { ns });
      }
    }
    await removeRecord(this.prefix).catch((err: unknown) => problem(err, 'removing lab record failed', { dir: REGISTRY_DIR }));
    if (problems > 0) throw new LabError(`HA lab ${this.prefix} teardown hit ${problems} problem(s); see the log`);
    this.log.info('HA lab destroyed');
  }

  /** Exit-handler teardown: synchronous, best effort, logs what fails. */
  teardownSync(reason: string): void {
    this.log.warn({ reason }, 'tearing the HA lab down from an exit handler');
    for (const nl of this.sockets.values()) nl.close();
    for (const child of this.children) if (child.pid !== undefined && !hasExited(child)) killQuietly(child.pid, this.log);
    for (const ns of this.created) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        for (const pid of pids.split(/\s+/).filter((s) => s !== '')) killQuietly(Number(pid), this.log);
        execFileSync('ip', ['netns', 'del', ns], { stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        this.log.error({ err, ns }, 'exit-handler namespace removal failed');
      }
    }
    removeRecordSync(this.prefix, this.log);
  }
}
