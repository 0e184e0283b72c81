// SPDX-License-Identifier: Apache-2.0
// Forged answers to health probes (issue 14, defect 7), through the real xlvs_private with
// BPF_PROG_TEST_RUN. A probe is put in flight as the daemon does it: a slot taken from the
// daemon's SynSlots (its port and nonce) is written to the probes map, and xlvs_private builds
// its SYN from the loopback device (probe_tx), which also records the MAC the SYN goes to. Then
// answers arrive on the private interface. One with the probe's addresses and ports but a wrong
// ack, or from another MAC than the SYN went to, or to the port and ack the old predictable
// scheme (slots FIFO from 0, seq = slot << 16 | generation) would name, must leave the slot as
// it was and be counted; the genuine answer is taken. The namespace gives the FIB a real on the
// link and one behind a gateway (permanent neighbours).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfObject } from '../../src/kernel/object.js';
import type { BpfMap, PerCpuMap } from '../../src/kernel/map.js';
import { ensureBpffs, unpin } from '../../src/kernel/bpffs.js';
import { u32, u64 } from '../../src/kernel/codec.js';
import { inNetns } from '../../src/kernel/test-run.js';
import { libc } from '../../src/kernel/libc.js';
import { FixtureRunner, type Fixture } from '../../testing/fixture.js';
import { parseFrame, ICMP, ICMP_CODE, type FrameSpec, type PacketSpec, type L4Spec, type ParsedFrame } from '../../testing/frames.js';
import { removeStaleFixtures } from '../../testing/stale.js';
import { SynSlots } from '../../src/health/probes/syn-slots.js';
import { addressBytes } from '../../src/model/ip.js';
import * as abi from '../../src/gen/abi.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const LOCAL = '10.77.0.1';
const REAL = '10.77.0.11';
const GW = '10.77.0.254';
const ROUTED = '198.18.0.5'; // behind GW
const LOCAL6 = '2001:db8:77::1';
const REAL6 = '2001:db8:77::11';
const MAC = {
  priv0: '02:00:5e:00:02:01',
  real: '02:00:5e:00:02:11',
  gw: '02:00:5e:00:02:fe',
  attacker: '02:00:5e:00:02:66', // another host on the private LAN
};
const LIMITS = { slots: abi.XLVS_MAX_PROBES, portMin: abi.XLVS_PROBE_PORT_MIN, ports: abi.XLVS_PROBE_PORTS };

const ns = `xlvs-probefx-${process.pid}-${randomBytes(3).toString('hex')}`;
const nsPath = `/run/netns/${ns}`;
const pinDir = `/sys/fs/bpf/xlvs-test-probefx-${process.pid}-${randomBytes(3).toString('hex')}`;

let obj: BpfObject | undefined;
let runner: FixtureRunner;
let probes: BpfMap<number, abi.XlvsProbe>;
let batch: BpfMap<number, abi.XlvsProbeBatch>;
let events: PerCpuMap<number, bigint>;
let drops: PerCpuMap<number, bigint>;
let privIfindex = 0;
const slots = new SynSlots(LIMITS);

const inNs = (...args: string[]): void => {
  execFileSync('ip', ['-n', ns, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
};

before(() => {
  removeStaleFixtures('xlvs-probefx', 'xlvs-test-probefx');
  execFileSync('ip', ['netns', 'add', ns]);
  // bpf_fib_lookup answers FWD_DISABLED on a device that does not forward (a router does).
  for (const k of ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']) execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `${k}=1`]);
  inNs('link', 'set', 'lo', 'up');
  inNs('link', 'add', 'priv0', 'address', MAC.priv0, 'type', 'veth', 'peer', 'name', 'privx', 'address', MAC.real);
  for (const dev of ['priv0', 'privx']) inNs('link', 'set', dev, 'up');
  inNs('addr', 'add', `${LOCAL}/24`, 'dev', 'priv0');
  inNs('addr', 'add', `${LOCAL6}/64`, 'dev', 'priv0', 'nodad');
  inNs('route', 'add', '198.18.0.0/24', 'via', GW, 'dev', 'priv0');
  inNs('neigh', 'add', REAL, 'lladdr', MAC.real, 'dev', 'priv0', 'nud', 'permanent');
  inNs('neigh', 'add', GW, 'lladdr', MAC.gw, 'dev', 'priv0', 'nud', 'permanent');
  inNs('neigh', 'add', REAL6, 'lladdr', MAC.real, 'dev', 'priv0', 'nud', 'permanent');
  privIfindex = inNetns(nsPath, () => libc.if_nametoindex('priv0') as number);
  ensureBpffs(pinDir);
  obj = BpfObject.open(join(ROOT, 'build/xlvs.bpf.o'), { pinRoot: pinDir });
  obj.load();
  probes = obj.map('probes', u32, abi.XlvsProbe);
  batch = obj.map('probe_batch', u32, abi.XlvsProbeBatch);
  events = obj.percpuMap('events', u32, u64);
  drops = obj.percpuMap('drops', u32, u64);
  runner = new FixtureRunner({ xlvs_private: obj.programFd('xlvs_private') }, { netns: nsPath });
});

after(() => {
  const steps: Array<[string, () => void]> = [
    ['close object', () => obj?.close()],
    ['unpin maps', () => unpin(pinDir)],
    ['delete namespace', () => execFileSync('ip', ['netns', 'del', ns])],
  ];
  for (const [what, step] of steps) {
    try {
      step();
    } catch (e) {
      console.error(`probe fixtures cleanup: ${what} failed`, e);
    }
  }
});

/** Every counter, summed over CPUs, by name: event:PASS, drop:PROBE_FORGED, ... */
function counters(): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const sum = (m: PerCpuMap<number, bigint>, i: number): bigint => (m.lookup(i) ?? []).reduce((a, b) => a + b, 0n);
  for (const [k, v] of Object.entries(abi)) {
    if (typeof v !== 'number' || k.endsWith('_MAX')) continue;
    if (k.startsWith('XLVS_EV_')) out.set(`event:${k.slice(8)}`, sum(events, v));
    if (k.startsWith('XLVS_DROP_')) out.set(`drop:${k.slice(10)}`, sum(drops, v));
  }
  return out;
}

/** Runs one fixture; returns the counters that moved ("drop:PROBE_FORGED +1") and the output frame. */
function run(f: Fixture): { moved: string[]; verdict: string; out: ParsedFrame } {
  const before = counters();
  const [r] = runner.runAll([f]);
  const after = counters();
  const moved = [...after].filter(([k, v]) => v !== before.get(k)).map(([k, v]) => `${k} +${v - (before.get(k) ?? 0n)}`);
  return { moved, verdict: r!.verdict, out: parseFrame(r!.out) };
}

interface InFlight {
  slot: number;
  sport: number;
  seq: number;
  target: string;
  local: string;
}

/** Puts a probe of address:80 in flight from `using` (the daemon's allocator): its SYN is built. */
function send(address: string, using: SynSlots = slots): InFlight {
  const v6 = address.includes(':');
  const slot = using.take();
  assert.ok(slot >= 0, 'a slot is free');
  const sport = using.port(slot);
  const seq = using.seq(slot);
  const p = {
    daddr: addressBytes(address), saddr: Buffer.alloc(16), nexthop: Buffer.alloc(16), sent_ns: 0n, answered_ns: 0n,
    dport: 80, sport, seq, result: abi.XLVS_PROBE_IDLE, family: v6 ? abi.XLVS_AF_INET6 : abi.XLVS_AF_INET,
    via: abi.XLVS_PROBE_DIRECT, icmp_type: 0, icmp_code: 0, peer_mac: Buffer.alloc(6),
  } as abi.XlvsProbe;
  probes.update(slot, p);
  batch.update(0, { next: 0, count: 1, ifindex: privIfindex, slots: [slot] });
  const size = v6 ? abi.XLVS_PROBE_FRAME6 : abi.XLVS_PROBE_FRAME4;
  const r = run({ name: `SYN of slot ${slot}`, prog: 'xlvs_private', ingress: 'lo', input: Buffer.alloc(size), expect: { verdict: 'XDP_REDIRECT' } });
  assert.equal(r.verdict, 'XDP_REDIRECT', `slot ${slot}: the SYN was built (result ${probes.lookup(slot)?.result})`);
  const l3 = r.out.l3 as { src: string; dst: string; l4: { kind: string; sport: number; dport: number; seq: number; flags: string } };
  assert.deepEqual([l3.dst, l3.l4.kind, l3.l4.sport, l3.l4.dport, l3.l4.seq, l3.l4.flags], [address, 'tcp', sport, 80, seq, 'SYN'], 'the SYN carries the slot\'s port and nonce');
  assert.equal(probes.lookup(slot)?.result, abi.XLVS_PROBE_SENT);
  return { slot, sport, seq, target: address, local: l3.src };
}

function result(f: InFlight): number {
  return probes.lookup(f.slot)!.result;
}

/** Frees the slot as the daemon does once it read the outcome. */
function done(f: InFlight, using: SynSlots = slots): void {
  const p = probes.lookup(f.slot)!;
  probes.update(f.slot, { ...p, result: abi.XLVS_PROBE_IDLE });
  using.give(f.slot);
}

/** An answer to the probe as it arrives on priv0: from `mac`, to `dport` with `ack`. */
function answer(f: InFlight, flags: 'RST,ACK' | 'SYN,ACK', o: { mac?: string; dport?: number; ack?: number } = {}): Fixture {
  const l4: L4Spec = { kind: 'tcp', sport: 80, dport: o.dport ?? f.sport, seq: 0x5eed, ack: o.ack ?? (f.seq + 1) >>> 0, flags, window: flags === 'RST,ACK' ? 0 : 65535 };
  const l3: PacketSpec = f.target.includes(':')
    ? { kind: 'ipv6', src: f.target, dst: f.local, hopLimit: 64, l4 }
    : { kind: 'ipv4', src: f.target, dst: f.local, id: 1, ttl: 64, l4 };
  const input: FrameSpec = { eth: { src: o.mac ?? MAC.real, dst: MAC.priv0 }, l3 };
  return { name: `${flags} to ${o.dport ?? f.sport}`, prog: 'xlvs_private', ingress: 'priv0', input, expect: { verdict: 'XDP_DROP' } };
}

const wrongAck = (f: InFlight): number => (f.seq + 1 + 0x1234_5678) >>> 0;

test('a RST or SYN-ACK with the probe\'s addresses and ports but a wrong ack is dropped as forged; the slot stays in flight', () => {
  for (const flags of ['RST,ACK', 'SYN,ACK'] as const) {
    const f = send(REAL);
    for (const ack of [wrongAck(f), f.seq, (f.seq + 2) >>> 0]) {
      const r = run(answer(f, flags, { ack }));
      assert.equal(result(f), abi.XLVS_PROBE_SENT, `${flags} ack ${ack} (nonce ${f.seq}): the slot is not answered`);
      assert.deepEqual([r.verdict, r.moved], ['XDP_DROP', ['drop:PROBE_FORGED +1']], `${flags} ack ${ack}`);
    }
    done(f);
  }
});

test('the right ack from another MAC than the SYN went to is dropped as forged', () => {
  for (const flags of ['RST,ACK', 'SYN,ACK'] as const) {
    const f = send(REAL);
    const r = run(answer(f, flags, { mac: MAC.attacker }));
    assert.equal(result(f), abi.XLVS_PROBE_SENT, `${flags} from ${MAC.attacker}: the slot is not answered`);
    assert.deepEqual([r.verdict, r.moved], ['XDP_DROP', ['drop:PROBE_FORGED +1']], flags);
    assert.equal(probes.lookup(f.slot)!.peer_mac.toString('hex'), MAC.real.replaceAll(':', ''), 'the slot holds the real\'s MAC');
    done(f);
  }
});

test('an answer to the port and ack the old scheme predicts (first slot FIFO, generation 1) is not taken', () => {
  // A daemon just started: its first probe. The old scheme put it in slot 0 with generation 1:
  // seq = 0 << 16 | 1, source port 61440 + ((0 + 1) & 4095).
  const fresh = new SynSlots(LIMITS);
  for (const flags of ['RST,ACK', 'SYN,ACK'] as const) {
    const f = send(REAL, fresh);
    // The strongest forger: the real's own MAC (spoofed), the real's address and port.
    const r = run(answer(f, flags, { dport: abi.XLVS_PROBE_PORT_MIN + 1, ack: 2 }));
    assert.equal(result(f), abi.XLVS_PROBE_SENT, `${flags} to the predicted port: the slot is not answered`);
    assert.notEqual(r.verdict, 'XDP_TX', 'not answered with a RST as a SYN-ACK would be');
    // No probe is out on that port (or, 1 in 4096, one is, with another nonce): passed or dropped, never taken.
    assert.ok(
      (r.verdict === 'XDP_PASS' && r.moved.join() === 'event:PASS +1') || (r.verdict === 'XDP_DROP' && r.moved.join() === 'drop:PROBE_FORGED +1'),
      `${flags}: ${r.verdict} ${r.moved.join()}`,
    );
    done(f, fresh);
  }
});

test('the genuine answers are taken: a RST is REFUSED and consumed, a SYN-ACK OPEN and reset', () => {
  const a = send(REAL);
  const r = run(answer(a, 'RST,ACK'));
  assert.deepEqual([r.verdict, r.moved, result(a)], ['XDP_DROP', ['event:PROBE +1'], abi.XLVS_PROBE_REFUSED]);
  done(a);
  const b = send(REAL);
  const s = run(answer(b, 'SYN,ACK'));
  assert.deepEqual([s.verdict, s.moved, result(b)], ['XDP_TX', ['event:PROBE +1'], abi.XLVS_PROBE_OPEN]);
  const l4 = (s.out.l3 as { l4: { flags: string; seq: number; dport: number } }).l4;
  assert.deepEqual([s.out.eth.dst, l4.flags, l4.seq, l4.dport], [MAC.real.toLowerCase(), 'RST', (b.seq + 1) >>> 0, 80], 'the half-open connection is reset');
  done(b);
});

test('a routed real: the answer must come from the gateway the SYN went to', () => {
  const f = send(ROUTED);
  const forged = run(answer(f, 'RST,ACK', { mac: MAC.real }));
  assert.deepEqual([forged.verdict, forged.moved, result(f)], ['XDP_DROP', ['drop:PROBE_FORGED +1'], abi.XLVS_PROBE_SENT], 'from a LAN host, not the gateway');
  assert.equal(probes.lookup(f.slot)!.peer_mac.toString('hex'), MAC.gw.replaceAll(':', ''), 'the slot holds the gateway\'s MAC');
  const r = run(answer(f, 'SYN,ACK', { mac: MAC.gw }));
  assert.deepEqual([r.verdict, r.moved, result(f)], ['XDP_TX', ['event:PROBE +1'], abi.XLVS_PROBE_OPEN]);
  done(f);
});

test('IPv6: a wrong ack or MAC is forged, the genuine answer is taken', () => {
  const f = send(REAL6);
  for (const o of [{ ack: wrongAck(f) }, { mac: MAC.attacker }]) {
    const r = run(answer(f, 'RST,ACK', o));
    assert.deepEqual([r.verdict, r.moved, result(f)], ['XDP_DROP', ['drop:PROBE_FORGED +1'], abi.XLVS_PROBE_SENT], JSON.stringify(o));
  }
  const r = run(answer(f, 'RST,ACK'));
  assert.deepEqual([r.verdict, r.moved, result(f)], ['XDP_DROP', ['event:PROBE +1'], abi.XLVS_PROBE_REFUSED]);
  done(f);
});

test('an ICMP error quoting the probe\'s tuple with another seq, or from another MAC, is forged; the one quoting the SYN fails it', () => {
  const f = send(REAL);
  const icmp = (seq: number, mac: string): Fixture => {
    const quoted: PacketSpec = { kind: 'ipv4', src: f.local, dst: REAL, id: 0, ttl: 64, df: true, l4: { kind: 'tcp', sport: f.sport, dport: 80, seq, ack: 0, flags: 'SYN' } };
    const l3: PacketSpec = { kind: 'ipv4', src: REAL, dst: f.local, id: 2, ttl: 64, l4: { kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.HOST_UNREACH, original: quoted } };
    return { name: `ICMP quoting seq ${seq} from ${mac}`, prog: 'xlvs_private', ingress: 'priv0', input: { eth: { src: mac, dst: MAC.priv0 }, l3 }, expect: { verdict: 'XDP_DROP' } };
  };
  for (const [seq, mac] of [[(f.seq ^ 0x8000_0000) >>> 0, MAC.real], [f.seq, MAC.attacker]] as const) {
    const r = run(icmp(seq, mac));
    assert.deepEqual([r.verdict, r.moved, result(f)], ['XDP_DROP', ['drop:PROBE_FORGED +1'], abi.XLVS_PROBE_SENT], `seq ${seq} from ${mac}`);
  }
  const r = run(icmp(f.seq, MAC.real));
  assert.deepEqual([r.verdict, r.moved, result(f)], ['XDP_DROP', ['event:PROBE +1'], abi.XLVS_PROBE_UNREACHABLE]);
  done(f);
});
