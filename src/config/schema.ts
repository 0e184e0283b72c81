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
//   hash_seed: 12345      # optional: integer 0..4294967295 (default 0), seed of sh/dh/mh; give
//                         #   both routers of a pair the same one so they pick the same reals
//   flow_entries: 2097152 # optional: connection table size in entries, 2 per connection,
//                         #   4096..67108864 (default 1048576: 200 MiB, allocated at start);
//                         #   fixed while the data plane lives (changing it needs --teardown)
//   local_addresses:      # optional: the router's own addresses; v4/v6 is required as soon as a
//     v4: 10.77.0.1       #   tun real (tunnel source) or fullnat real (source NAT address) of
//     v6: fd00:77::1      #   that family exists
//   source_validation:    # optional: which client sources may open a flow on the public side
//     mode: strict        #   strict (default): refuse martian sources (IPv4 0/8, 127/8, 169.254/16,
//                         #   224/4, 240/4; IPv6 ::/96, ::ffff:0:0/96, fe80::/10, ff00::/8), the
//                         #   router's own (a VIP, a local address) and sources whose route back
//                         #   does not leave by the interface the packet came in on (rp_filter=1:
//                         #   a private-LAN source from outside, say); loose: the same, but the
//                         #   route back may leave by any interface but the private one (asymmetric
//                         #   routing); off: nothing is checked. A refused packet is dropped and
//                         #   counted as `martian`
//     allow: [192.0.2.0/24]  # optional: prefixes (address/length or an address) let through
//     deny: [198.18.0.0/15]  #   whatever the checks say / dropped on top of them; the longest
//                         #   match of both lists decides; no host bits set, each prefix once,
//                         #   4096 in all; not with mode off
//   health:               # optional, daemon-wide limits of the health checker
//     max_probes: 4096    #   probes of any type in flight at once, 1..65536
//     max_exec: 16        #   exec checks (processes) running at once, 1..1024
//     syn_checks: true    #   tcp checks without send/expect are single SYNs the data plane sends
//                         #   and answers with a RST (no socket, no connection on the real's
//                         #   application); false: a connect() and close per check
//   services:             # optional list (may be empty)
//     - vip: 203.0.113.100   # required: IPv4 dotted quad (no leading zeros) or IPv6 (any RFC 4291
//                            #   form, kept as RFC 5952; no zone id, no ::ffff:a.b.c.d)
//       port: 80             # exactly one of port / ports: 1..65535, or `all` (every port)
//       # ports: [80, 443]   #   a port group: one frontend per port
//       protocol: tcp        # optional: tcp (default) | udp
//       also:                # optional: more frontends of the same service (port group across
//         - { vip: 203.0.113.101, port: 80, protocol: tcp }  # VIPs/protocols); port may be
//                            #   `all`, protocol defaults to the service's; same family as vip
//       scheduler: wlc       # optional: rr wrr lc wlc (default) lblc lblcr dh sh sed nq mh fo ovf
//       persistence: 300     # optional: seconds 1..2147483, or { timeout: 300 (default),
//                            #   netmask: prefix length 0..32 / 0..128 (default 32 / 128) }
//       hash: { fallback: false, port: false }  # optional, sh and mh only (IPVS sh-/mh- flags)
//       mh_table_size: 65537 # optional, mh only: a prime 2..1048573 (default 65537)
//       reals:               # optional list, at most 256
//         - address: 10.77.0.11   # required: same family as the vip
//           port: 80              # optional 0..65535, 0 = keep the client's port. Default: the
//                                 #   service's port if all its frontends have one same specific
//                                 #   port, else 0; always 0 for dr/tun
//           weight: 1             # optional: integer 0..65535, default 1 (0 = quiescent)
//           method: nat           # optional: nat (default) | dr | tun | fullnat
//           upper_threshold: 0    # optional 0..4294967295: no new flows at this many connections (0 = none)
//           lower_threshold: 0    # optional 0..4294967295: resume below (0 = 3/4 of upper); <= upper
//           check: none           # optional: this real's own health check (replaces the service's
//                                 #   whole), or none
//       check: { type: tcp }  # optional: the health check of every real (config/check.ts)
//       sorry_server: { address: 10.77.0.99, port: 80 }  # optional: takes new flows while the
//                            #   healthy reals' weight is below quorum (a real's fields, no check)
//       quorum: 1            # optional 1..16711425: minimum total weight of healthy reals
//   ha:                   # optional: active/backup routers (two xlvsd sharing the floating addresses:
//                         #   VIPs, gateway, local_addresses; the design: docs/ARCHITECTURE.md)
//     node: r1            # required: this router's name, 1..32 of A-Z a-z 0-9 . _ - (ties of
//                         #   priority go to the greater name)
//     priority: 150       # required 1..254: the higher is the preferred master
//     local: { public: 203.0.113.11, private: 10.77.0.2 }  # required: this router's own addresses
//                         #   (heartbeats are sent from them), v4 or v6
//     peer: { name: r2, public: 203.0.113.12, private: 10.77.0.3 }  # required: the other router;
//                         #   name != node, each address of the family of local's, not equal to it
//     port: 7707          # optional: UDP heartbeat port 1..65535 (default 7707)
//     sync_port: 7708     # optional: TCP connection sync port 1..65535 (default 7708), != port
//     interval_ms: 100    # optional: heartbeat interval 10..10000 (default 100)
//     dead_intervals: 3   # optional 2..100 (default 3): the peer is dead after this many
//                         #   intervals without a valid heartbeat on either path
//     key_file: /etc/xlvs/ha.key  # required: absolute path of the shared key (same on both, at
//                         #   least 32 bytes, e.g. `head -c 32 /dev/urandom`), read at load; the
//                         #   file must be a regular file not readable by group or others
//     preempt: true       # optional (default true): take the master role back when preferred
//     preempt_delay_ms: 0 # optional 0..3600000 (default 0): wait this long before preempting
//     restart_hold_ms: 10000  # optional 0..120000 (default 10000): how long the peer holds off
//                         #   when this daemon restarts (SIGTERM)
//     max_skew_ms: 5000   # optional 100..600000 (default 5000): most a heartbeat's clock may differ
//     gateway: [10.77.0.1, fd00:77::1]  # optional: the private side's floating gateway addresses
//                         #   (the reals' default route), each once, not a VIP, not local.private,
//                         #   peer.private or a local_addresses one
//     announce: { count: 3, spacing_ms: 10, refresh_ms: 0 }  # optional: gratuitous ARP /
//                         #   unsolicited NA on taking over: frames per address 1..20 (default 3),
//                         #   spacing 0..1000 ms (default 10), refresh 0 (none, default) or
//                         #   1000..3600000 ms
//
// Numbers must be plain decimal integers: `"80"` is a string and `0x50` is rejected, so a
// value never means something other than what it looks like. `services:`, `reals:`, `also:`
// and `timeouts:` left empty (all entries commented out) count as absent.
//
// Semantic rules (checked once the whole file is read, service by service, each error at the
// field it is about):
// - frontends do not overlap (config/overlap.ts): a vip+port+protocol is served by one service;
//   `port: all` and a specific port of the same VIP+protocol may coexist (the specific wins);
// - every `also` vip and every real is of the service's family;
// - `hash` only with sh/mh, `mh_table_size` only with mh; persistence netmask within the family;
// - reals (model/rules.ts): no repeated address:port, at most 256; dr/tun cannot change the port
//   (port 0 or the service's single port); tun/fullnat need local_addresses of their family;
//   lower_threshold needs upper_threshold > 0 and must not exceed it;
// - at most 16384 services and 131072 reals in all (the data plane's capacity; xlvsd --check and
//   the daemon check frontends, VIP addresses and tables too); no value longer than 1 MiB as
//   written (config/load.ts).

import { DEFAULT_TIMEOUTS, MAX_TIMEOUT_S, MAX_U32 } from '../model/types.js';
import { DEFAULT_SOURCE_VALIDATION } from '../model/types.js';
import type { DesiredState, LocalAddresses, SourceValidation, Timeouts } from '../model/types.js';
import { isScalar } from 'yaml';
import { XLVS_MAX_FLOWS, XLVS_MAX_REALS, XLVS_MAX_SVCS } from '../gen/abi.js';
import type { Node } from 'yaml';
import { readAddress } from './address.js';
import { checkFrontendOverlap } from './overlap.js';
import { readSourceValidation } from './source-validation.js';
import { finishService, readService, type RawService } from './service.js';
import { Walker, childPath, itemPath } from './yaml-walk.js';
import { finishHa, readHa, type RawHa } from './ha.js';
import type { HaConfig } from '../ha/types.js';

/** Which interfaces XDP attaches to, and how. */
export interface XdpConfig {
  public: string;
  private: string;
  mode: 'native' | 'generic';
}

/** Daemon-wide limits of the health checker. */
export interface HealthConfig {
  /** Probes of any type in flight at once. */
  maxProbes: number;
  /** exec checks (processes) running at once. */
  maxExec: number;
  /** Plain tcp checks as SYNs sent by the data plane (health/probes/syn.ts) rather than connect(). */
  synChecks: boolean;
}

export const DEFAULT_HEALTH: Readonly<HealthConfig> = Object.freeze({ maxProbes: 4096, maxExec: 16, synChecks: true });

export interface Config {
  interfaces: XdpConfig;
  health: HealthConfig;
  /** Entries of the connection table (the flows map), two per connection. */
  flowEntries: number;
  desired: DesiredState;
  /** Active/backup routers (the `ha:` section); undefined: this router runs alone. */
  ha?: HaConfig;
}

export const DEFAULT_FLOW_ENTRIES = XLVS_MAX_FLOWS;
export const MIN_FLOW_ENTRIES = 4096;
/** 64 Mi entries: about 12.5 GiB of kernel memory at 200 B an entry. */
export const MAX_FLOW_ENTRIES = 67_108_864;

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
  let hashSeed = 0;
  let flowEntries = DEFAULT_FLOW_ENTRIES;
  let local: LocalAddresses = {};
  let raw: RawService[] = [];
  let health: HealthConfig = { ...DEFAULT_HEALTH };
  let sourceValidation: SourceValidation = { ...DEFAULT_SOURCE_VALIDATION, allow: [], deny: [] };
  let rawHa: RawHa | undefined;
  w.fields(
    root,
    '',
    {
      interfaces: (n, p) => (interfaces = readInterfaces(w, n, p)),
      timeouts: (n, p) => (timeouts = readTimeouts(w, n, p)),
      hash_seed: (n, p) => (hashSeed = w.int(n, p, 0, MAX_U32)),
      flow_entries: (n, p) => (flowEntries = w.int(n, p, MIN_FLOW_ENTRIES, MAX_FLOW_ENTRIES)),
      local_addresses: (n, p) => (local = readLocal(w, n, p)),
      services: (n, p) => (raw = readServices(w, n, p)),
      health: (n, p) => (health = readHealth(w, n, p)),
      source_validation: (n, p) => (sourceValidation = readSourceValidation(w, n, p)),
      ha: (n, p) => (rawHa = readHa(w, n, p)),
    },
    ['interfaces'],
  );
  // Every field is read; now the rules that need other fields (local_addresses may come last).
  const finished = raw.map((s) => finishService(w, s, local, health.synChecks));
  checkFrontendOverlap(w, finished.map((f) => f.sources));
  const desired: DesiredState = { services: finished.map((f) => f.spec), timeouts, hash_seed: hashSeed, local, source_validation: sourceValidation };
  const ha = rawHa === undefined ? undefined : finishHa(w, rawHa, 'ha', desired.services, local);
  // fields() threw if the required `interfaces` was missing.
  return { interfaces: interfaces as XdpConfig, health, flowEntries, desired, ...(ha === undefined ? {} : { ha }) };
}

/**
 * The services, stopping at the first one the data plane cannot hold (XLVS_MAX_SVCS services,
 * XLVS_MAX_REALS reals in all; the daemon checks the rest before it writes anything). Aliases let
 * a short file name millions of reals (`reals: *r` in 16,000 services); reading stops at what
 * could ever be loaded instead of building them all.
 */
function readServices(w: Walker, node: Node, path: string): RawService[] {
  const out: RawService[] = [];
  let reals = 0;
  for (const [i, { node: item, site }] of w.seq(node, path, true).entries()) {
    const p = itemPath(path, i);
    if (i >= XLVS_MAX_SVCS) w.fail(site, p, i + 1, `too many services: the data plane holds at most ${XLVS_MAX_SVCS}`);
    const s = readService(w, item, p);
    reals += s.reals.length;
    if (reals > XLVS_MAX_REALS) {
      w.fail(site, p, reals, `too many reals in all services: the data plane holds at most ${XLVS_MAX_REALS}`);
    }
    out.push(s);
  }
  return out;
}

function readHealth(w: Walker, node: Node, path: string): HealthConfig {
  const h: HealthConfig = { ...DEFAULT_HEALTH };
  if (isScalar(node) && node.value === null) return h;
  w.fields(node, path, {
    max_probes: (n, p) => (h.maxProbes = w.int(n, p, 1, 65536)),
    max_exec: (n, p) => (h.maxExec = w.int(n, p, 1, 1024)),
    syn_checks: (n, p) => (h.synChecks = w.bool(n, p)),
  });
  return h;
}

function readLocal(w: Walker, node: Node, path: string): LocalAddresses {
  const local: LocalAddresses = {};
  if (isScalar(node) && node.value === null) return local;
  w.fields(node, path, {
    v4: (n, p) => (local.v4 = readAddress(w, n, p, 4)),
    v6: (n, p) => (local.v6 = readAddress(w, n, p, 6)),
  });
  return local;
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
