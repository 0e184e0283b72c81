// SPDX-License-Identifier: Apache-2.0
// The HA lab as data: two routers side by side between one client network and one private
// network, both networks bridges in a switch namespace. Nothing here knows what balances: the
// routers get addresses, forwarding and sysctls only; xlvs (or keepalived + nftables) adds the
// floating addresses (VIP, gateway) and answers for them.
//
//   cli:eth0 203.0.113.2 / 2001:db8:1::2 ── sw:pub ┬─ r1:pub0 .11 / ::11      (VIP .100 / ::100 floating)
//                                                  └─ r2:pub0 .12 / ::12
//   r1:priv0 10.77.0.2 / fd00:77::2 ┬─ sw:prv ─ rsN:eth0 10.77.0.(10+N) / fd00:77::(10+N)
//   r2:priv0 10.77.0.3 / fd00:77::3 ┘            default via the floating gateway 10.77.0.1 / fd00:77::1

import { nsArgv } from './proc.js';
import type { Step } from './topology.js';

export { LAB_PORTS, PUBLIC_IFACE, PRIVATE_IFACE, type Step } from './topology.js';
import { PUBLIC_IFACE, PRIVATE_IFACE } from './topology.js';

export type RouterName = 'r1' | 'r2';
export const ROUTERS: readonly RouterName[] = ['r1', 'r2'];
export const PUBLIC_BRIDGE = 'pub';
export const PRIVATE_BRIDGE = 'prv';
/** Highest real-server count (addresses .11.. stay inside the /24). */
export const MAX_HA_REALS = 200;

export interface HaNamespaces {
  client: string;
  r1: string;
  r2: string;
  /** The switch: both bridges and every port facing a router. */
  sw: string;
  reals: string[];
}

export interface RouterAddresses {
  public: string;
  private: string;
}

/** One family's addresses; `publicLen` / `privateLen` are the two networks' prefix lengths. */
export interface HaFamilyAddresses {
  client: string;
  vip: string;
  /** The reals' default gateway: floating, on the private network. */
  gateway: string;
  r1: RouterAddresses;
  r2: RouterAddresses;
  reals: string[];
  publicLen: number;
  privateLen: number;
}

export interface HaAddresses {
  v4: HaFamilyAddresses;
  v6: HaFamilyAddresses;
}

export function haNamespaces(prefix: string, reals: number): HaNamespaces {
  return {
    client: `${prefix}cli`,
    r1: `${prefix}r1`,
    r2: `${prefix}r2`,
    sw: `${prefix}sw`,
    reals: Array.from({ length: reals }, (_, i) => `${prefix}rs${i + 1}`),
  };
}

export function haAddresses(reals: number): HaAddresses {
  const n = (f: (i: number) => string): string[] => Array.from({ length: reals }, (_, i) => f(i));
  return {
    v4: {
      client: '203.0.113.2', vip: '203.0.113.100', gateway: '10.77.0.1',
      r1: { public: '203.0.113.11', private: '10.77.0.2' }, r2: { public: '203.0.113.12', private: '10.77.0.3' },
      reals: n((i) => `10.77.0.${11 + i}`), publicLen: 24, privateLen: 24,
    },
    v6: {
      client: '2001:db8:1::2', vip: '2001:db8:1::100', gateway: 'fd00:77::1',
      r1: { public: '2001:db8:1::11', private: 'fd00:77::2' }, r2: { public: '2001:db8:1::12', private: 'fd00:77::3' },
      reals: n((i) => `fd00:77::${11 + i}`), publicLen: 64, privateLen: 64,
    },
  };
}

export const allHaNamespaces = (ns: HaNamespaces): string[] => [ns.client, ns.r1, ns.r2, ns.sw, ...ns.reals];

/** The switch-side names of each veth: `pub-r1`, `prv-r2`, `pub-cli`, `prv-rs3`. */
export const switchPort = (bridge: 'pub' | 'prv', who: string): string => `${bridge}-${who}`;

/** Every veth end, both sides: each needs its offloads turned off. */
function vethEnds(ns: HaNamespaces): Array<[string, string]> {
  return [
    [ns.client, 'eth0'], [ns.sw, switchPort('pub', 'cli')],
    ...ROUTERS.flatMap((r): Array<[string, string]> => [
      [ns[r], PUBLIC_IFACE], [ns.sw, switchPort('pub', r)],
      [ns[r], PRIVATE_IFACE], [ns.sw, switchPort('prv', r)],
    ]),
    ...ns.reals.flatMap((rs, i): Array<[string, string]> => [[rs, 'eth0'], [ns.sw, switchPort('prv', `rs${i + 1}`)]]),
  ];
}

const ip = (netns: string, ...args: string[]): string[] => ['ip', '-n', netns, ...args];
const sysctl = (netns: string, setting: string): Step => ({ what: `sysctl ${setting} in ${netns}`, argv: nsArgv(netns, ['sysctl', '-q', '-w', setting]) });

/** The commands, in order, that turn freshly added namespaces into the HA lab. */
export function haWiringSteps(ns: HaNamespaces, addr: HaAddresses, passObject: string, v6: boolean): Step[] {
  const steps: Step[] = [];
  const add = (what: string, argv: string[]): void => {
    steps.push({ what, argv });
  };
  const families = v6 ? [addr.v4, addr.v6] : [addr.v4];
  // IPv6 addresses are usable at once (DAD would hold them tentative for a second or more).
  const addrAdd = (n: string, a: string, len: number, dev: string): string[] => ip(n, 'addr', 'add', `${a}/${len}`, 'dev', dev, ...(a.includes(':') ? ['nodad'] : []));

  for (const n of allHaNamespaces(ns)) add(`loopback up in ${n}`, ip(n, 'link', 'set', 'lo', 'up'));

  // Both ends are created inside their namespaces: nothing appears in the root namespace.
  const veth = (n: string, dev: string, port: string): void => add(`veth ${n}:${dev}<->sw:${port}`, ['ip', 'link', 'add', dev, 'netns', n, 'type', 'veth', 'peer', 'name', port, 'netns', ns.sw]);
  veth(ns.client, 'eth0', switchPort('pub', 'cli'));
  for (const r of ROUTERS) {
    veth(ns[r], PUBLIC_IFACE, switchPort('pub', r));
    veth(ns[r], PRIVATE_IFACE, switchPort('prv', r));
  }
  ns.reals.forEach((rs, i) => veth(rs, 'eth0', switchPort('prv', `rs${i + 1}`)));

  // No multicast snooping: ND's solicited-node groups and VRRP's (keepalived peers) are flooded
  // whatever MLD/IGMP the bridge has or has not seen.
  for (const br of [PUBLIC_BRIDGE, PRIVATE_BRIDGE]) add(`bridge ${br}`, ip(ns.sw, 'link', 'add', br, 'type', 'bridge', 'mcast_snooping', '0'));
  for (const port of [switchPort('pub', 'cli'), ...ROUTERS.map((r) => switchPort('pub', r))]) add(`enslave ${port}`, ip(ns.sw, 'link', 'set', port, 'master', PUBLIC_BRIDGE));
  for (const port of [...ROUTERS.map((r) => switchPort('prv', r)), ...ns.reals.map((_, i) => switchPort('prv', `rs${i + 1}`))]) add(`enslave ${port}`, ip(ns.sw, 'link', 'set', port, 'master', PRIVATE_BRIDGE));

  // XDP NAT patches checksums incrementally: it needs complete ones, not offloaded partial ones.
  for (const [n, dev] of vethEnds(ns)) {
    add(`offloads off on ${n}:${dev}`, nsArgv(n, ['ethtool', '-K', dev, 'rx', 'off', 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']));
  }

  for (const f of families) {
    add(`client ${f.client}`, addrAdd(ns.client, f.client, f.publicLen, 'eth0'));
    for (const r of ROUTERS) {
      add(`${r} public ${f[r].public}`, addrAdd(ns[r], f[r].public, f.publicLen, PUBLIC_IFACE));
      add(`${r} private ${f[r].private}`, addrAdd(ns[r], f[r].private, f.privateLen, PRIVATE_IFACE));
    }
    ns.reals.forEach((rs, i) => add(`${rs} ${f.reals[i]}`, addrAdd(rs, f.reals[i]!, f.privateLen, 'eth0')));
  }

  for (const [n, dev] of [...vethEnds(ns), [ns.sw, PUBLIC_BRIDGE], [ns.sw, PRIVATE_BRIDGE]] as Array<[string, string]>) add(`link up ${n}:${dev}`, ip(n, 'link', 'set', dev, 'up'));

  // The reals route back through the floating gateway, present or not yet: onlink needs no
  // neighbour and no address to exist at this point.
  for (const f of families) ns.reals.forEach((rs) => add(`${rs} default via ${f.gateway}`, ip(rs, ...(f === addr.v6 ? ['-6'] : []), 'route', 'add', 'default', 'via', f.gateway, 'dev', 'eth0', 'onlink')));

  for (const r of ROUTERS) {
    const n = ns[r];
    steps.push(sysctl(n, 'net.ipv4.ip_forward=1'));
    if (v6) steps.push(sysctl(n, 'net.ipv6.conf.all.forwarding=1'));
    for (const conf of ['all', 'default', PUBLIC_IFACE, PRIVATE_IFACE]) steps.push(sysctl(n, `net.ipv4.conf.${conf}.rp_filter=0`));
    // The balancer may XDP_PASS an already-NATed packet whose source is the router's own VIP.
    for (const dev of [PUBLIC_IFACE, PRIVATE_IFACE]) steps.push(sysctl(n, `net.ipv4.conf.${dev}.accept_local=1`));
    // linksDown/linksUp (a router's failure) must not delete its IPv6 addresses for good.
    if (v6) for (const dev of ['all', PUBLIC_IFACE, PRIVATE_IFACE]) steps.push(sysctl(n, `net.ipv6.conf.${dev}.keep_addr_on_down=1`));
  }
  steps.push(sysctl(ns.client, 'net.ipv4.tcp_tw_reuse=1'));
  steps.push(sysctl(ns.client, 'net.ipv4.ip_local_port_range=1024 65535'));

  // Frames redirected into a veth are dropped unless its peer runs XDP: every switch port facing
  // a router gets a pass-through program (the routers' own interfaces get the balancer's).
  for (const r of ROUTERS) {
    for (const br of ['pub', 'prv'] as const) add(`XDP pass on sw:${switchPort(br, r)}`, ip(ns.sw, 'link', 'set', 'dev', switchPort(br, r), 'xdpdrv', 'obj', passObject, 'sec', 'xdp'));
  }
  return steps;
}
