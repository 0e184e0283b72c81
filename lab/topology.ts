// SPDX-License-Identifier: Apache-2.0
// What the lab builds, as data: names, addresses and the ordered commands that wire them.
// Red Hat's two-tier LVS-NAT layout: client -- (pub0) router (priv0) -- bridge -- real servers,
// the reals routing back through the router's private address.
//
//   cli:eth0 203.0.113.2 ──veth── rtr:pub0 203.0.113.1 (+ VIP 203.0.113.100/32)
//   rtr:priv0 10.77.0.1 ──veth── lan:to-rtr ┐
//                                           br0 ─ lan:to-rsN ──veth── rsN:eth0 10.77.0.(10+N)

import { nsArgv } from './proc.js';

export const PUBLIC_IFACE = 'pub0';
export const PRIVATE_IFACE = 'priv0';
/** The lan-side end of priv0: a bridge port, and where the balancer's redirects into priv0 land. */
export const LAN_ROUTER_PORT = 'to-rtr';
export const BRIDGE = 'br0';
/** Where every real server listens (see realserver.ts). */
export const LAB_PORTS = { http: 80, tcp: 9000, udp: 5353 } as const;
/** Highest real-server count: keeps addresses inside 10.77.0.0/24. */
export const MAX_REALS = 200;

export interface LabNamespaces {
  client: string;
  router: string;
  lan: string;
  reals: string[];
}

export interface LabAddresses {
  client: string;
  routerPublic: string;
  vip: string;
  routerPrivate: string;
  reals: string[];
}

export interface Step {
  /** Human words for logs and error messages. */
  what: string;
  argv: string[];
}

export function labNamespaces(prefix: string, reals: number): LabNamespaces {
  return {
    client: `${prefix}cli`,
    router: `${prefix}rtr`,
    lan: `${prefix}lan`,
    reals: Array.from({ length: reals }, (_, i) => `${prefix}rs${i + 1}`),
  };
}

export function labAddresses(reals: number): LabAddresses {
  return {
    client: '203.0.113.2',
    routerPublic: '203.0.113.1',
    vip: '203.0.113.100',
    routerPrivate: '10.77.0.1',
    reals: Array.from({ length: reals }, (_, i) => `10.77.0.${11 + i}`),
  };
}

export function allNamespaces(ns: LabNamespaces): string[] {
  return [ns.client, ns.router, ns.lan, ...ns.reals];
}

export const realPort = (i: number): string => `to-rs${i + 1}`;

/** Every veth end, both sides: each needs its offloads turned off. */
function vethEnds(ns: LabNamespaces): Array<[string, string]> {
  return [
    [ns.client, 'eth0'],
    [ns.router, PUBLIC_IFACE],
    [ns.router, PRIVATE_IFACE],
    [ns.lan, LAN_ROUTER_PORT],
    ...ns.reals.flatMap((r, i): Array<[string, string]> => [
      [r, 'eth0'],
      [ns.lan, realPort(i)],
    ]),
  ];
}

const ip = (netns: string, ...args: string[]): string[] => ['ip', '-n', netns, ...args];
const sysctl = (netns: string, setting: string): Step => ({ what: `sysctl ${setting} in ${netns}`, argv: nsArgv(netns, ['sysctl', '-q', '-w', setting]) });

/** The commands, in order, that turn freshly added namespaces into the lab. */
export function wiringSteps(ns: LabNamespaces, addr: LabAddresses, passObject: string): Step[] {
  const steps: Step[] = [];
  const add = (what: string, argv: string[]): void => {
    steps.push({ what, argv });
  };

  for (const n of allNamespaces(ns)) add(`loopback up in ${n}`, ip(n, 'link', 'set', 'lo', 'up'));

  // Both ends are created directly inside their namespaces: nothing ever appears in the root
  // namespace, so parallel labs cannot collide on interface names.
  add('veth client<->router public', ['ip', 'link', 'add', PUBLIC_IFACE, 'netns', ns.router, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.client]);
  add('veth router private<->lan', ['ip', 'link', 'add', PRIVATE_IFACE, 'netns', ns.router, 'type', 'veth', 'peer', 'name', LAN_ROUTER_PORT, 'netns', ns.lan]);
  ns.reals.forEach((r, i) => add(`veth ${r}<->lan`, ['ip', 'link', 'add', 'eth0', 'netns', r, 'type', 'veth', 'peer', 'name', realPort(i), 'netns', ns.lan]));

  add('bridge in lan', ip(ns.lan, 'link', 'add', BRIDGE, 'type', 'bridge'));
  for (const port of [LAN_ROUTER_PORT, ...ns.reals.map((_, i) => realPort(i))]) {
    add(`enslave ${port} to ${BRIDGE}`, ip(ns.lan, 'link', 'set', port, 'master', BRIDGE));
  }

  // XDP NAT patches checksums incrementally, so it needs complete ones on the wire: with
  // checksum offload a veth hands over packets whose checksum is only partial.
  for (const [n, dev] of vethEnds(ns)) {
    add(`offloads off on ${n}:${dev}`, nsArgv(n, ['ethtool', '-K', dev, 'rx', 'off', 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']));
  }

  add('client address', ip(ns.client, 'addr', 'add', `${addr.client}/24`, 'dev', 'eth0'));
  add('router public address', ip(ns.router, 'addr', 'add', `${addr.routerPublic}/24`, 'dev', PUBLIC_IFACE));
  // The VIP sits on the router as the floating VIP would, so the router owns it for ARP.
  add('VIP on router public', ip(ns.router, 'addr', 'add', `${addr.vip}/32`, 'dev', PUBLIC_IFACE));
  add('router private address', ip(ns.router, 'addr', 'add', `${addr.routerPrivate}/24`, 'dev', PRIVATE_IFACE));
  ns.reals.forEach((r, i) => add(`${r} address`, ip(r, 'addr', 'add', `${addr.reals[i]}/24`, 'dev', 'eth0')));

  for (const [n, dev] of [...vethEnds(ns), [ns.lan, BRIDGE] as [string, string]]) add(`link up ${n}:${dev}`, ip(n, 'link', 'set', dev, 'up'));

  add('client default route', ip(ns.client, 'route', 'add', 'default', 'via', addr.routerPublic));
  ns.reals.forEach((r) => add(`${r} default route`, ip(r, 'route', 'add', 'default', 'via', addr.routerPrivate)));

  steps.push(sysctl(ns.router, 'net.ipv4.ip_forward=1'));
  for (const conf of ['all', 'default', PUBLIC_IFACE, PRIVATE_IFACE]) steps.push(sysctl(ns.router, `net.ipv4.conf.${conf}.rp_filter=0`));
  // The balancer may XDP_PASS an already-NATed packet whose source is the router's own VIP;
  // without accept_local the kernel drops it as a martian.
  for (const dev of [PUBLIC_IFACE, PRIVATE_IFACE]) steps.push(sysctl(ns.router, `net.ipv4.conf.${dev}.accept_local=1`));
  // Many short connections from one client exhaust its ports within seconds otherwise.
  steps.push(sysctl(ns.client, 'net.ipv4.tcp_tw_reuse=1'));
  steps.push(sysctl(ns.client, 'net.ipv4.ip_local_port_range=1024 65535'));

  // Frames redirected into a veth are dropped unless its peer runs XDP: give the peers of the
  // router's two interfaces a pass-through program (the router's own get the balancer's).
  add('XDP pass on client eth0', ip(ns.client, 'link', 'set', 'dev', 'eth0', 'xdpdrv', 'obj', passObject, 'sec', 'xdp'));
  add(`XDP pass on lan ${LAN_ROUTER_PORT}`, ip(ns.lan, 'link', 'set', 'dev', LAN_ROUTER_PORT, 'xdpdrv', 'obj', passObject, 'sec', 'xdp'));
  return steps;
}
