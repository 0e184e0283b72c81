// SPDX-License-Identifier: Apache-2.0
// The rules of the xlvsd config file, turning a parsed YAML document into the desired state.
//
// File format (YAML 1.2, keys are snake_case; unknown or repeated keys are errors):
//
//   interfaces:
//     public: pub0        # required: Linux interface name (1..15 bytes, no '/', ':' or whitespace)
//     private: priv0      # required: must differ from public
//     xdp_mode: native    # optional: native (default) | generic
//   timeouts:             # optional, seconds, integers 1..2147483; defaults are IPVS's
//     tcp: 900
//     tcp_fin: 120
//     tcp_close: 10
//     udp: 300
//   services:             # optional list (may be empty)
//     - vip: 203.0.113.100   # required: dotted-quad IPv4 (no leading zeros)
//       port: 80             # required: integer 1..65535
//       protocol: tcp        # optional: tcp (default) | udp
//       scheduler: wrr       # optional: rr | wrr (default)
//       reals:               # optional list
//         - address: 10.77.0.11   # required: dotted-quad IPv4
//           port: 80              # optional: 1..65535, default = the service's port
//           weight: 1             # optional: integer 0..65535, default 1 (0 = quiescent)
//           method: nat           # optional: nat (default; the only one so far)
//
// Numbers must be plain decimal integers: `"80"` is a string and `0x50` is rejected, so a
// value never means something other than what it looks like. `services:`, `reals:` and
// `timeouts:` left empty (all entries commented out) count as absent.
//
// Semantic rules: no two services share vip+port+protocol, no two reals of a service share
// address+port (the later one is reported). Errors come in source order, except that a
// duplicate real is only known once its service's port is (it defaults the reals' ports).

import { DEFAULT_TIMEOUTS, realId, serviceId } from '../model/types.js';
import type { DesiredState, ForwardMethod, Protocol, RealSpec, SchedulerName, ServiceSpec, Timeouts } from '../model/types.js';
import { isScalar } from 'yaml';
import type { Node } from 'yaml';
import { isIPv4 } from './ipv4.js';
import { Walker, childPath, itemPath } from './yaml-walk.js';

/** Which interfaces XDP attaches to, and how. */
export interface XdpConfig {
  public: string;
  private: string;
  mode: 'native' | 'generic';
}

export interface Config {
  interfaces: XdpConfig;
  desired: DesiredState;
}

// Seconds are turned into milliseconds somewhere downstream; INT32_MAX ms keeps that safe
// for every consumer (timers, 32-bit map fields).
const MAX_TIMEOUT_S = 2147483;
const IPV4_REASON = 'must be a dotted-quad IPv4 address';
const IFNAME_REASON = "must be a Linux interface name (1..15 bytes, no '/', ':' or whitespace)";

/** The kernel's dev_valid_name(): IFNAMSIZ (16) including the NUL, no '/', ':' or space. */
export function isInterfaceName(s: string): boolean {
  const bytes = Buffer.byteLength(s, 'utf8');
  return bytes >= 1 && bytes <= 15 && s !== '.' && s !== '..' && !/[/:\s\0]/.test(s);
}

/** The whole document; `root` is null for an empty file. */
export function readConfig(w: Walker, root: Node | null): Config {
  // An empty file is an empty mapping: the admin learns what is missing, not "not a mapping".
  if (root === null) w.failAt(0, 'interfaces', undefined, 'required field missing');
  w.map(root, '(root)'); // names the root in the error; fields() below uses '' to build paths
  let interfaces: XdpConfig | undefined;
  let timeouts: Timeouts = { ...DEFAULT_TIMEOUTS };
  let services: ServiceSpec[] = [];
  w.fields(
    root,
    '',
    {
      interfaces: (n, p) => (interfaces = readInterfaces(w, n, p)),
      timeouts: (n, p) => (timeouts = readTimeouts(w, n, p)),
      services: (n, p) => (services = readServices(w, n, p)),
    },
    ['interfaces'],
  );
  // fields() threw if the required `interfaces` was missing.
  return { interfaces: interfaces as XdpConfig, desired: { services, timeouts } };
}

function readInterfaces(w: Walker, node: Node, path: string): XdpConfig {
  const names: { public?: string; private?: string } = {};
  let mode: XdpConfig['mode'] = 'native';
  // Checked as soon as the second name is read, so the error points at the later one.
  const iface = (which: 'public' | 'private') => (n: Node, p: string) => {
    const name = w.str(n, p, isInterfaceName, IFNAME_REASON);
    const other = which === 'public' ? 'private' : 'public';
    if (names[other] === name) w.fail(n, p, name, `must differ from ${childPath(path, other)}`);
    names[which] = name;
  };
  w.fields(
    node,
    path,
    {
      public: iface('public'),
      private: iface('private'),
      xdp_mode: (n, p) => (mode = w.oneOf(n, p, ['native', 'generic'] as const)),
    },
    ['public', 'private'],
  );
  return { public: names.public as string, private: names.private as string, mode };
}

function readTimeouts(w: Walker, node: Node, path: string): Timeouts {
  const t: Timeouts = { ...DEFAULT_TIMEOUTS };
  if (isScalar(node) && node.value === null) return t;
  const set = (k: keyof Timeouts) => (n: Node, p: string) => (t[k] = w.int(n, p, 1, MAX_TIMEOUT_S));
  w.fields(node, path, { tcp: set('tcp'), tcp_fin: set('tcp_fin'), tcp_close: set('tcp_close'), udp: set('udp') });
  return t;
}

function readServices(w: Walker, node: Node, path: string): ServiceSpec[] {
  const services: ServiceSpec[] = [];
  const firstIndex = new Map<string, number>();
  w.seq(node, path, true).forEach(({ node: item, site }, i) => {
    const p = itemPath(path, i);
    const svc = readService(w, item, p);
    const id = serviceId(svc);
    const first = firstIndex.get(id);
    if (first !== undefined) {
      w.fail(site, p, id, `duplicate service: same vip, port and protocol as ${itemPath(path, first)}`);
    }
    firstIndex.set(id, i);
    services.push(svc);
  });
  return services;
}

/** A real as read, before the service's port (its default) is known. */
interface PendingReal {
  address: string;
  port: number | undefined;
  weight: number;
  method: ForwardMethod;
  site: Node;
}

function readService(w: Walker, node: Node, path: string): ServiceSpec {
  let vip: string | undefined;
  let port: number | undefined;
  let protocol: Protocol = 'tcp';
  let scheduler: SchedulerName = 'wrr';
  let pending: PendingReal[] = [];
  let reals: RealSpec[] | undefined;
  const realsPath = childPath(path, 'reals');
  w.fields(
    node,
    path,
    {
      vip: (n, p) => (vip = w.str(n, p, isIPv4, IPV4_REASON)),
      port: (n, p) => (port = w.int(n, p, 1, 65535)),
      protocol: (n, p) => (protocol = w.oneOf(n, p, ['tcp', 'udp'] as const)),
      scheduler: (n, p) => (scheduler = w.oneOf(n, p, ['rr', 'wrr'] as const)),
      reals: (n, p) => {
        pending = w.seq(n, p, true).map(({ node: r, site }, i) => readReal(w, r, itemPath(p, i), site));
        // Usually `port` comes before `reals`: check now, so errors stay in source order.
        if (port !== undefined) reals = finishReals(w, realsPath, pending, port);
      },
    },
    ['vip', 'port'],
  );
  const svcPort = port as number; // required, so fields() has thrown if missing
  reals ??= finishReals(w, realsPath, pending, svcPort);
  return { vip: vip as string, port: svcPort, protocol, scheduler, reals };
}

/** Applies the service port as default and rejects a repeated address:port. */
function finishReals(w: Walker, path: string, pending: PendingReal[], svcPort: number): RealSpec[] {
  const firstIndex = new Map<string, number>();
  return pending.map(({ address, port, weight, method, site }, i) => {
    const real: RealSpec = { address, port: port ?? svcPort, weight, method };
    const id = realId(real);
    const first = firstIndex.get(id);
    if (first !== undefined) {
      w.fail(site, itemPath(path, i), id, `duplicate real: same address and port as ${itemPath(path, first)}`);
    }
    firstIndex.set(id, i);
    return real;
  });
}

function readReal(w: Walker, node: Node, path: string, site: Node): PendingReal {
  const r: PendingReal = { address: '', port: undefined, weight: 1, method: 'nat', site };
  w.fields(
    node,
    path,
    {
      address: (n, p) => (r.address = w.str(n, p, isIPv4, IPV4_REASON)),
      port: (n, p) => (r.port = w.int(n, p, 1, 65535)),
      weight: (n, p) => (r.weight = w.int(n, p, 0, 65535)),
      method: (n, p) => (r.method = w.oneOf(n, p, ['nat'] as const)),
    },
    ['address'],
  );
  return r;
}
