// SPDX-License-Identifier: Apache-2.0
// The router namespace and loaded object the packet-fixture tests run xlvs_public / xlvs_private
// in (BPF_PROG_TEST_RUN): a namespace with forwarding on, pub0 (the VIPs, a /24 and a /64 toward
// the client) and priv0 (the local address toward the real, MTU 1400), both veth pairs kept
// inside so the links have a carrier, and permanent neighbours for the client and the real, so
// bpf_fib_lookup answers SUCCESS or FRAG_NEEDED. The test is the control plane: it writes the
// maps with the generated codecs. Used by icmp-fixtures and packet-edges.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { BpfObject } from '../src/kernel/object.js';
import type { BpfMap, PerCpuMap } from '../src/kernel/map.js';
import { ensureBpffs, unpin } from '../src/kernel/bpffs.js';
import { u32, u64 } from '../src/kernel/codec.js';
import * as abi from '../src/gen/abi.js';
import { FixtureRunner } from './fixture.js';
import { parseIPv6 } from './frames.js';
import { removeStaleFixtures } from './stale.js';

/** Addresses: documentation and namespace ranges only. */
export const ROUTER = {
  vip: '203.0.113.100',
  client: '203.0.113.2',
  real: '10.77.0.11',
  local: '10.77.0.1', // the router's address on the private side (cfg local4: fullnat, tun)
  vip6: '2001:db8:1::100',
  client6: '2001:db8:1::2',
  real6: '2001:db8:77::11',
} as const;

export const ROUTER_MAC = {
  pub0: '02:00:5e:00:01:01',
  client: '02:00:5e:00:01:02',
  priv0: '02:00:5e:00:02:01',
  real: '02:00:5e:00:02:11',
} as const;

export const PRIV_MTU = 1400;

/** An address as the ABI stores it: 16 bytes, IPv4 in the first 4. */
export function abiAddr(a: string): Buffer {
  const b = Buffer.alloc(16);
  if (isIP(a) === 4) {
    a.split('.').forEach((octet, i) => b.writeUInt8(Number(octet), i));
    return b;
  }
  const v6 = parseIPv6(a);
  if (v6 === null) throw new Error(`test bug: ${a} is not an address`);
  return v6;
}

export const abiFamily = (a: string): number => (isIP(a) === 4 ? abi.XLVS_AF_INET : abi.XLVS_AF_INET6);

export interface RouterFixtureOptions {
  /** Namespace and pin dir names start with it (`xlvs-<tag>-…`, `xlvs-test-<tag>-…`). */
  tag: string;
  /** More set-up in the namespace (routes), with `ip -n NS` at hand. */
  extra?: (inNs: (...args: string[]) => void) => void;
}

export class RouterFixture {
  private constructor(
    readonly ns: string,
    readonly pinDir: string,
    readonly obj: BpfObject,
    readonly runner: FixtureRunner,
    readonly flows: BpfMap<abi.XlvsFlowKey, abi.XlvsFlow>,
    readonly vips: BpfMap<abi.XlvsVipKey, abi.XlvsVip>,
    readonly events: PerCpuMap<number, bigint>,
    readonly drops: PerCpuMap<number, bigint>,
  ) {}

  /**
   * Makes the namespace, loads `objectPath` with its maps pinned in a fresh pin dir, writes cfg
   * (IPVS's timeouts, local4 only: an IPv6 error falls back to the VIP) and the VIP address
   * entries (port 0, proto 0). Whatever was made is removed again if a step fails.
   */
  static create(objectPath: string, opts: RouterFixtureOptions): RouterFixture {
    removeStaleFixtures(`xlvs-${opts.tag}`, `xlvs-test-${opts.tag}`);
    const id = `${process.pid}-${randomBytes(3).toString('hex')}`;
    const ns = `xlvs-${opts.tag}-${id}`;
    const pinDir = `/sys/fs/bpf/xlvs-test-${opts.tag}-${id}`;
    let obj: BpfObject | undefined;
    try {
      makeNamespace(ns, opts.extra);
      ensureBpffs(pinDir);
      obj = BpfObject.open(objectPath, { pinRoot: pinDir });
      obj.load();
      const vips = obj.map('vips', abi.XlvsVipKey, abi.XlvsVip);
      const s = 1_000_000_000n;
      obj.map('cfg', u32, abi.XlvsCfg).update(0, {
        timeout_tcp_ns: 900n * s, timeout_tcp_fin_ns: 120n * s, timeout_tcp_close_ns: 10n * s, timeout_udp_ns: 300n * s,
        lblc_expire_ns: 0n, lblcr_shrink_ns: 0n, local4: abiAddr(ROUTER.local), local6: Buffer.alloc(16), has_local: 1,
      });
      for (const v of [ROUTER.vip, ROUTER.vip6]) vips.update({ addr: abiAddr(v), port: 0, proto: 0, family: abiFamily(v) }, { svc_id: 0, flags: 0 });
      const runner = new FixtureRunner({ xlvs_public: obj.programFd('xlvs_public'), xlvs_private: obj.programFd('xlvs_private') }, { netns: `/run/netns/${ns}` });
      return new RouterFixture(ns, pinDir, obj, runner, obj.map('flows', abi.XlvsFlowKey, abi.XlvsFlow), vips,
        obj.percpuMap('events', u32, u64), obj.percpuMap('drops', u32, u64));
    } catch (e) {
      cleanUp(`${opts.tag} fixture set-up`, ns, pinDir, obj);
      throw e;
    }
  }

  /** Closes the object, unpins the maps and deletes the namespace; a failed step is reported, the rest still run. */
  destroy(what: string): void {
    cleanUp(what, this.ns, this.pinDir, this.obj);
  }
}

function makeNamespace(ns: string, extra: RouterFixtureOptions['extra']): void {
  const ip = (...args: string[]): void => {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const inNs = (...args: string[]): void => ip('-n', ns, ...args);
  ip('netns', 'add', ns);
  for (const k of ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']) execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `${k}=1`]);
  inNs('link', 'set', 'lo', 'up');
  // Both ends of each veth stay in the namespace: the far ends only give the links a carrier.
  inNs('link', 'add', 'pub0', 'address', ROUTER_MAC.pub0, 'type', 'veth', 'peer', 'name', 'pubx', 'address', ROUTER_MAC.client);
  inNs('link', 'add', 'priv0', 'address', ROUTER_MAC.priv0, 'mtu', String(PRIV_MTU), 'type', 'veth', 'peer', 'name', 'privx', 'address', ROUTER_MAC.real, 'mtu', String(PRIV_MTU));
  for (const dev of ['pub0', 'pubx', 'priv0', 'privx']) inNs('link', 'set', dev, 'up');
  inNs('addr', 'add', '203.0.113.1/24', 'dev', 'pub0');
  inNs('addr', 'add', `${ROUTER.vip}/32`, 'dev', 'pub0');
  inNs('addr', 'add', `${ROUTER.local}/24`, 'dev', 'priv0');
  inNs('addr', 'add', '2001:db8:1::1/64', 'dev', 'pub0', 'nodad');
  inNs('addr', 'add', `${ROUTER.vip6}/128`, 'dev', 'pub0', 'nodad');
  inNs('addr', 'add', '2001:db8:77::1/64', 'dev', 'priv0', 'nodad');
  extra?.(inNs);
  inNs('neigh', 'add', ROUTER.client, 'lladdr', ROUTER_MAC.client, 'dev', 'pub0', 'nud', 'permanent');
  inNs('neigh', 'add', ROUTER.client6, 'lladdr', ROUTER_MAC.client, 'dev', 'pub0', 'nud', 'permanent');
  inNs('neigh', 'add', ROUTER.real, 'lladdr', ROUTER_MAC.real, 'dev', 'priv0', 'nud', 'permanent');
  inNs('neigh', 'add', ROUTER.real6, 'lladdr', ROUTER_MAC.real, 'dev', 'priv0', 'nud', 'permanent');
}

function cleanUp(what: string, ns: string, pinDir: string, obj: BpfObject | undefined): void {
  const steps: Array<[string, () => void]> = [
    ['close object', () => obj?.close()],
    ['unpin maps', () => unpin(pinDir)],
    ['delete namespace', () => execFileSync('ip', ['netns', 'del', ns], { stdio: ['ignore', 'ignore', 'pipe'] })],
  ];
  for (const [step, run] of steps) {
    try {
      run();
    } catch (e) {
      console.error(`${what}: ${step} failed`, e);
    }
  }
}
