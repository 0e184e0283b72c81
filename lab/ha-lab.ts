// SPDX-License-Identifier: Apache-2.0
// The HA lab: a client, two routers (r1, r2), a switch namespace with a public and a private
// bridge, and N real servers, each namespace named after a per-lab prefix. See ha-topology.ts
// for the layout. It assumes no balancer: xlvs, or keepalived + nftables, runs in the routers
// and adds the floating addresses itself. What it shares with Lab is in namespace-lab.ts.

import { LabError } from './errors.js';
import { NamespaceLab, type LabBasics, type NamespaceLabOptions } from './namespace-lab.js';
import { RealServers } from './real-servers.js';
import {
  allHaNamespaces, haAddresses, haNamespaces, haWiringSteps, MAX_HA_REALS, PRIVATE_IFACE, PUBLIC_IFACE, ROUTERS,
  type HaAddresses, type HaNamespaces, type RouterName, type Step,
} from './ha-topology.js';
import { Netlink } from '../src/host/netlink.js';
import { getNeighbour } from '../src/host/neighbours.js';
import { decodeLink, getLinkByName } from '../src/host/rtnl-messages.js';
import { NetlinkError } from '../src/errors.js';

export type { HaAddresses, HaFamilyAddresses, HaNamespaces, RouterName } from './ha-topology.js';
export { ROUTERS, LAB_PORTS } from './ha-topology.js';

const ENOENT = 2;

/** reals: 1..200 (default 3); passObject: on the switch ports facing the routers. */
export interface HaLabOptions extends NamespaceLabOptions {
  /** IPv6 as well as IPv4 (default true). */
  v6?: boolean;
}

export async function createHaLab(opts: HaLabOptions = {}): Promise<HaLab> {
  return HaLab.create(opts);
}

export class HaLab extends NamespaceLab {
  readonly ns: HaNamespaces;
  readonly addr: HaAddresses;
  protected readonly realServers: RealServers;
  /** Netlink sockets for the read-only helpers, one per namespace, opened on first use. */
  private readonly sockets = new Map<string, Netlink>();

  private constructor(
    basics: LabBasics,
    readonly v6: boolean,
  ) {
    super(basics, 'HA lab');
    this.ns = haNamespaces(basics.prefix, basics.reals);
    this.addr = haAddresses(basics.reals);
    this.realServers = new RealServers(this, this.ns.reals);
  }

  static create(opts: HaLabOptions = {}): Promise<HaLab> {
    return NamespaceLab.createWith(opts, MAX_HA_REALS, (basics) => new HaLab(basics, opts.v6 ?? true));
  }

  protected namespaceNames(): string[] {
    return allHaNamespaces(this.ns);
  }

  protected wiringSteps(): Step[] {
    return haWiringSteps(this.ns, this.addr, this.passObject, this.v6);
  }

  protected override closeHandles(): void {
    for (const nl of this.sockets.values()) nl.close();
    this.sockets.clear();
  }

  /** The namespace of router r1 or r2. */
  routerNs(router: RouterName): string {
    if (!ROUTERS.includes(router)) throw new LabError(`no router ${JSON.stringify(router)} (r1 or r2)`);
    return this.ns[router];
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
}
