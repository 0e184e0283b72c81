// SPDX-License-Identifier: Apache-2.0
// The fuzz test's world: one network namespace standing for the router (public and private veth
// links with known MACs, the private one at MTU 1400, permanent neighbours for the client's
// gateway and the reals, the clients' prefixes routed via the public side), the xlvs object
// loaded with its maps pinned, services of every method over both families configured through
// the Reconciler, and xlvs_decap loaded beside it with an enforced allow-list of the local
// addresses. Names are `xlvs-fuzz-<pid>-<hex>`; close() removes everything, and a run that died
// leaves nothing a later run does not clear (testing/stale.ts).

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pino from 'pino';
import { BpfObject } from '../src/kernel/object.js';
import { ensureBpffs, unpin } from '../src/kernel/bpffs.js';
import { u32, u64 } from '../src/kernel/codec.js';
import type { BpfMap, PerCpuMap } from '../src/kernel/map.js';
import { ifindexIn } from '../src/kernel/test-run.js';
import { Reconciler } from '../src/dataplane/reconcile.js';
import { addressBytes } from '../src/model/ip.js';
import * as dabi from '../src/gen/decap-abi.js';
import type { ForwardMethod, SchedulerName, Timeouts } from '../src/model/types.js';
import { TestDataplane } from './fixture.js';
import { desired, service } from './desired.js';
import { removeStaleFixtures } from './stale.js';

/**
 * Flow timeouts long enough that no flow the oracle holds live expires during a run (the model
 * keeps no clock): IPVS's defaults end a closed flow after 10 s, and a run takes about as long
 * on a quiet machine, longer under load. The half-open timeout is capped at 60 s in flow.h
 * (XLVS_FLOW_SYN_TIMEOUT_NS), hence the fuzz test's time limit below it.
 */
export const FUZZ_TIMEOUTS: Timeouts = { tcp: 3600, tcp_fin: 3600, tcp_close: 3600, udp: 3600 };

export const NET = {
  vip4: '203.0.113.100',
  vip4b: '203.0.113.101',
  vip6: '2001:db8:1::100',
  vip6b: '2001:db8:1::101',
  router4: '203.0.113.1',
  router6: '2001:db8:1::1',
  /** The clients' gateway on the public link; client prefixes are routed via it. */
  client4: '203.0.113.2',
  client6: '2001:db8:1::2',
  clients4: '198.51.100.0/24',
  clients6: '2001:db8:2::/64',
  reals4: ['10.77.0.11', '10.77.0.12'],
  reals6: ['2001:db8:77::11', '2001:db8:77::12'],
  local4: '10.77.0.2',
  local6: '2001:db8:77::2',
  privMtu: 1400,
  mac: {
    pub0: '02:00:5e:00:01:01',
    client: '02:00:5e:00:01:02',
    priv0: '02:00:5e:00:02:01',
    privx: '02:00:5e:00:02:ff',
    reals: ['02:00:5e:00:02:11', '02:00:5e:00:02:12'],
  },
} as const;

/** Sources a packet from the public side may never open a flow with. */
export const MARTIANS4 = ['127.0.0.1', '0.0.0.0', NET.vip4, NET.vip4b, NET.local4, NET.reals4[0], '10.77.0.50', NET.router4, '224.0.0.5', '255.255.255.255'];
export const MARTIANS6 = ['::1', '::', NET.vip6, NET.vip6b, NET.local6, NET.reals6[0], '2001:db8:77::50', NET.router6, 'ff02::1'];

export interface FuzzReal {
  address: string;
  port: number;
  weight?: number;
  upper?: number;
}

export interface FuzzService {
  vip: string;
  port: number;
  proto: 'tcp' | 'udp';
  method: ForwardMethod;
  sched: SchedulerName;
  reals: FuzzReal[];
  persist?: boolean;
  /** Client pool of the fuzzer's sessions (fuzz-sessions.ts): a shared pool means shared client ports. */
  pool: number;
}

/**
 * Every method over both families; A:80 and B:80 NAT to the same real:port (reply clobbering
 * when one client port reaches both); wrr 100:1 whose heavy real is overloaded after one
 * connection (the ring must fall back to the light one); a persistent UDP service.
 */
export function fuzzServices(): FuzzService[] {
  const out: FuzzService[] = [];
  for (const v6 of [false, true]) {
    const [a, b] = v6 ? [NET.vip6, NET.vip6b] : [NET.vip4, NET.vip4b];
    const r = v6 ? NET.reals6 : NET.reals4;
    const p = v6 ? 100 : 0;
    const both = (port: number): FuzzReal[] => r.map((address) => ({ address, port }));
    out.push(
      { vip: a, port: 80, proto: 'tcp', method: 'nat', sched: 'rr', reals: both(8080), pool: p + 1 },
      { vip: b, port: 80, proto: 'tcp', method: 'nat', sched: 'rr', reals: [{ address: r[0]!, port: 8080 }], pool: p + 1 },
      { vip: a, port: 5353, proto: 'udp', method: 'nat', sched: 'rr', reals: both(5353), persist: true, pool: p + 2 },
      { vip: a, port: 443, proto: 'tcp', method: 'dr', sched: 'rr', reals: both(0), pool: p + 3 },
      { vip: a, port: 8443, proto: 'tcp', method: 'tun', sched: 'rr', reals: both(0), pool: p + 4 },
      { vip: a, port: 8000, proto: 'tcp', method: 'fullnat', sched: 'rr', reals: both(9000), pool: p + 5 },
      { vip: a, port: 82, proto: 'tcp', method: 'nat', sched: 'wrr', reals: [{ address: r[0]!, port: 8082, weight: 100, upper: 1 }, { address: r[1]!, port: 8082, weight: 1 }], pool: p + 6 },
    );
  }
  return out;
}

export class FuzzNet {
  private constructor(
    readonly ns: string,
    readonly dp: TestDataplane,
    private readonly decapObj: BpfObject,
    private readonly decapPin: string,
    readonly pub0: number,
    readonly priv0: number,
  ) {}

  get nsPath(): string {
    return `/run/netns/${this.ns}`;
  }

  static async create(root: string, services: FuzzService[]): Promise<FuzzNet> {
    removeStaleFixtures('xlvs-fuzz', 'xlvs-test-fuzz');
    removeStaleFixtures('xlvs-fuzz', 'xlvs-test-fuzzd');
    const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;
    const ns = `xlvs-fuzz-${tag}`;
    makeNamespace(ns);
    let dp: TestDataplane | undefined;
    let decap: BpfObject | undefined;
    const decapPin = `/sys/fs/bpf/xlvs-test-fuzzd-${tag}`;
    try {
      dp = TestDataplane.load(join(root, 'build/xlvs.bpf.o'), `/sys/fs/bpf/xlvs-test-fuzz-${tag}`);
      await new Reconciler(dp.maps, pino({ level: 'warn' }, pino.destination(2))).apply(desired(services.map((s) => service(s.vip, s.port, s.proto, s.sched, s.reals.map((r) => ({
        address: r.address, port: r.port, method: s.method, weight: r.weight ?? 1, upper_threshold: r.upper ?? 0,
      })), s.persist ? { persistence: { timeout: 300, netmask: s.vip.includes(':') ? 128 : 32 } } : {})), { local: { v4: NET.local4, v6: NET.local6 }, timeouts: FUZZ_TIMEOUTS }));
      ensureBpffs(decapPin);
      decap = BpfObject.open(join(root, 'build/xlvs_decap.bpf.o'), { pinRoot: decapPin });
      decap.load();
      // The tun reals' decapsulator: tunnels from the routers' local addresses, to a real's
      // address, with a VIP inside (every set empty would strip nothing).
      const set = (name: string, addrs: string[]): void => {
        const m = decap!.map(name, dabi.XlvsDecapAddr, u32);
        for (const a of addrs) m.update(decapKey(a), 1);
      };
      set('decap_allow', [NET.local4, NET.local6]);
      set('decap_local', [...NET.reals4, ...NET.reals6]);
      set('decap_vips', [NET.vip4, NET.vip4b, NET.vip6, NET.vip6b]);
      const nsPath = `/run/netns/${ns}`;
      return new FuzzNet(ns, dp, decap, decapPin, ifindexIn(nsPath, 'pub0'), ifindexIn(nsPath, 'priv0'));
    } catch (e) {
      decap?.close();
      unpinQuiet(decapPin);
      dp?.close();
      execFileSync('ip', ['netns', 'del', ns]);
      throw e;
    }
  }

  decapFd(): number {
    return this.decapObj.programFd('xlvs_decap');
  }

  decapStats(): PerCpuMap<number, bigint> {
    return this.decapObj.percpuMap('decap_stats', u32, u64);
  }

  flows(): BpfMap<import('../src/gen/abi.js').XlvsFlowKey, import('../src/gen/abi.js').XlvsFlow> {
    return this.dp.maps.flows;
  }

  close(): void {
    const steps: Array<[string, () => void]> = [
      ['close decap object', () => this.decapObj.close()],
      ['unpin decap maps', () => unpinQuiet(this.decapPin)],
      ['close data plane', () => this.dp.close()],
      ['delete namespace', () => execFileSync('ip', ['netns', 'del', this.ns])],
    ];
    for (const [what, step] of steps) {
      try {
        step();
      } catch (e) {
        console.error(`fuzz cleanup: ${what} failed`, e);
      }
    }
  }
}

/** An allow-list key: IPv4 as ::ffff:a.b.c.d. */
function decapKey(a: string): dabi.XlvsDecapAddr {
  let b = addressBytes(a);
  if (!a.includes(':')) {
    const mapped = Buffer.from('00000000000000000000ffff00000000', 'hex');
    mapped.set(b.subarray(0, 4), 12);
    b = mapped;
  }
  return { w0: b.readUInt32BE(0), w1: b.readUInt32BE(4), w2: b.readUInt32BE(8), w3: b.readUInt32BE(12) };
}

function unpinQuiet(dir: string): void {
  try {
    unpin(dir);
  } catch {
    // already gone
  }
}

function makeNamespace(ns: string): void {
  const ip = (...args: string[]): void => {
    execFileSync('ip', ['-n', ns, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    for (const k of ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']) execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `${k}=1`]);
    const { mac } = NET;
    ip('link', 'set', 'lo', 'up');
    // Both ends of each veth stay in the namespace: the far ends only give the links a carrier.
    ip('link', 'add', 'pub0', 'address', mac.pub0, 'type', 'veth', 'peer', 'name', 'pubx', 'address', mac.client);
    ip('link', 'add', 'priv0', 'address', mac.priv0, 'mtu', String(NET.privMtu), 'type', 'veth', 'peer', 'name', 'privx', 'address', mac.privx, 'mtu', String(NET.privMtu));
    for (const dev of ['pub0', 'pubx', 'priv0', 'privx']) ip('link', 'set', dev, 'up');
    ip('addr', 'add', `${NET.router4}/24`, 'dev', 'pub0');
    for (const v of [NET.vip4, NET.vip4b]) ip('addr', 'add', `${v}/32`, 'dev', 'pub0');
    ip('addr', 'add', `${NET.router6}/64`, 'dev', 'pub0', 'nodad');
    for (const v of [NET.vip6, NET.vip6b]) ip('addr', 'add', `${v}/128`, 'dev', 'pub0', 'nodad');
    ip('addr', 'add', '10.77.0.1/24', 'dev', 'priv0');
    ip('addr', 'add', `${NET.local4}/24`, 'dev', 'priv0');
    ip('addr', 'add', '2001:db8:77::1/64', 'dev', 'priv0', 'nodad');
    ip('addr', 'add', `${NET.local6}/64`, 'dev', 'priv0', 'nodad');
    ip('route', 'add', NET.clients4, 'via', NET.client4, 'dev', 'pub0');
    ip('-6', 'route', 'add', NET.clients6, 'via', NET.client6, 'dev', 'pub0');
    ip('neigh', 'add', NET.client4, 'lladdr', mac.client, 'dev', 'pub0', 'nud', 'permanent');
    ip('neigh', 'add', NET.client6, 'lladdr', mac.client, 'dev', 'pub0', 'nud', 'permanent');
    NET.reals4.forEach((r, i) => ip('neigh', 'add', r, 'lladdr', mac.reals[i]!, 'dev', 'priv0', 'nud', 'permanent'));
    NET.reals6.forEach((r, i) => ip('neigh', 'add', r, 'lladdr', mac.reals[i]!, 'dev', 'priv0', 'nud', 'permanent'));
  } catch (e) {
    execFileSync('ip', ['netns', 'del', ns]);
    throw e;
  }
}
