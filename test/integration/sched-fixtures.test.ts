// SPDX-License-Identifier: Apache-2.0
// Every scheduler's pick in the real xlvs_public program (BPF_PROG_TEST_RUN) against the
// TypeScript reference (src/sched/reference.ts, src/sched/table.ts): the test is the control
// plane, writing services, reals, connection counts and tables into the maps with the generated
// codecs, then sending a SYN and reading which real the NATed frame is addressed to (and the
// forward flow entry's real_id, which must agree). The programs run in a namespace made here,
// with forwarding off, so the route lookup hands every translated packet to the kernel (PASS).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestDataplane } from '../../testing/fixture.js';
import { XdpTestRunner, inNetns, verdictName, XDP } from '../../src/kernel/test-run.js';
import { createU32Array, closeMap } from '../../src/kernel/inner-map.js';
import { buildFrame, parseFrame, type ParsedIpv4 } from '../../testing/frames.js';
import { buildTable } from '../../src/sched/table.js';
import { buildRing } from '../../src/sched/ring.js';
import { hashAddr } from '../../src/sched/hash.js';
import {
  pickLeast, pickLblc, pickLblcr, pickHashed, pickRing, type RealState, type LeastSched, type LblcrSet,
} from '../../src/sched/reference.js';
import * as abi from '../../src/gen/abi.js';
import type { SchedulerName } from '../../src/model/types.js';
import { mulberry32 } from '../../src/model/prng.js';
import { removeStaleFixtures } from '../../testing/stale.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SVC = 7;
const REAL_BASE = 100; // real i of the service is real id REAL_BASE + i
const MAX_N = 40;
const VIPS = ['203.0.113.100', '203.0.113.101', '203.0.113.102', '203.0.113.103'];
const S = 1_000_000_000n;

const ns = `xlvs-sched-${process.pid}-${randomBytes(3).toString('hex')}`;
const nsPath = `/run/netns/${ns}`;
const pinDir = `/sys/fs/bpf/xlvs-test-sched-${process.pid}-${randomBytes(3).toString('hex')}`;

let dp: TestDataplane | undefined;
let runner: XdpTestRunner;

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

function v4(a: string): Buffer {
  const b = Buffer.alloc(16);
  a.split('.').forEach((o, i) => b.writeUInt8(Number(o), i));
  return b;
}

const realAddr = (i: number): string => `10.77.1.${i + 1}`;
/** Real i's address as the data plane holds it (setService writes port 8080). */
const addrOf = (i: number): RealState['addr'] => ({ addr: v4(realAddr(i)), family: abi.XLVS_AF_INET, port: 8080 });
const maps = () => dp!.maps;

const prng = mulberry32;


before(() => {
  removeStaleFixtures('xlvs-sched', 'xlvs-test-sched');
  ip('netns', 'add', ns);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  dp = TestDataplane.load(join(ROOT, 'build/xlvs.bpf.o'), pinDir);
  runner = new XdpTestRunner(dp.progFd('xlvs_public'));
  setCfg(3600n * S);
  for (const v of VIPS) {
    maps().vips.update({ addr: v4(v), port: 0, proto: 0, family: abi.XLVS_AF_INET }, { svc_id: SVC, flags: 0 });
    maps().vips.update({ addr: v4(v), port: 80, proto: 6, family: abi.XLVS_AF_INET }, { svc_id: SVC, flags: 0 });
  }
});

after(() => {
  const steps: Array<[string, () => void]> = [
    ['close data plane', () => dp?.close()],
    ['delete namespace', () => ip('netns', 'del', ns)],
  ];
  for (const [what, step] of steps) {
    try {
      step();
    } catch (e) {
      console.error(`sched fixtures cleanup: ${what} failed`, e);
    }
  }
});

function setCfg(shrinkNs: bigint): void {
  maps().cfg.update(0, {
    timeout_tcp_ns: 900n * S, timeout_tcp_fin_ns: 120n * S, timeout_tcp_close_ns: 10n * S, timeout_udp_ns: 300n * S,
    lblc_expire_ns: 3600n * S, lblcr_shrink_ns: shrinkNs, local4: Buffer.alloc(16), local6: Buffer.alloc(16), has_local: 0,
  });
}

const SCHED_CODE: Record<SchedulerName, number> = {
  rr: abi.XLVS_SCHED_RR, wrr: abi.XLVS_SCHED_WRR, lc: abi.XLVS_SCHED_LC, wlc: abi.XLVS_SCHED_WLC,
  lblc: abi.XLVS_SCHED_LBLC, lblcr: abi.XLVS_SCHED_LBLCR, dh: abi.XLVS_SCHED_DH, sh: abi.XLVS_SCHED_SH,
  sed: abi.XLVS_SCHED_SED, nq: abi.XLVS_SCHED_NQ, mh: abi.XLVS_SCHED_MH, fo: abi.XLVS_SCHED_FO, ovf: abi.XLVS_SCHED_OVF,
};

interface SvcSetup {
  /** Real i of the service (id REAL_BASE + i) in config order; the other slots are freed. */
  weights: number[];
  seed?: number;
  flags?: number;
  mhTableSize?: number;
}

/** Writes the service, its reals (others freed), its table, and zero counts; clears flows and dests. */
function setService(sched: SchedulerName, s: SvcSetup): number[] {
  const m = maps();
  for (const [k] of [...m.flows.entries()]) m.flows.delete(k);
  for (const [k] of [...m.dests.entries()]) m.dests.delete(k);
  for (let i = 0; i < MAX_N; i++) {
    const used = i < s.weights.length;
    m.reals.update(REAL_BASE + i, {
      addr: v4(realAddr(i)), port: 8080, method: abi.XLVS_METHOD_NAT, flags: used ? abi.XLVS_REAL_F_USED : 0,
      family: abi.XLVS_AF_INET, svc_id: SVC, weight: used ? s.weights[i]! : 0, u_threshold: 1_000_000, l_threshold: 0,
    });
    m.realConns.update(REAL_BASE + i, { active: 0, inactive: 0, overloaded: 0, seq: 0 });
    m.svcReals.update(SVC * abi.XLVS_MAX_SVC_REALS + i, used ? REAL_BASE + i : 0);
  }
  const seed = s.seed ?? 0;
  const table = buildTable(sched, s.weights.map((w, i) => ({ id: `${realAddr(i)}:8080`, weight: w })), {
    seed, mhTableSize: s.mhTableSize ?? 65537,
  });
  const inner = createU32Array('xlvs_tsched', table.length, Uint32Array.from(table, (i) => REAL_BASE + i));
  try {
    m.svcTables.update(SVC, inner.fd);
  } finally {
    closeMap(inner);
  }
  m.svcRr.update(SVC, 0);
  m.svcs.update(SVC, {
    sched: SCHED_CODE[sched], flags: s.flags ?? 0, n_reals: s.weights.length, table_len: table.length,
    persist_ns: 0n, hash_seed: seed, persist_plen: 0, family: abi.XLVS_AF_INET,
  });
  return table;
}

/** Writes every real's counts and overload flag as the model states them. */
function setCounts(reals: RealState[]): void {
  reals.forEach((r, i) => {
    maps().realConns.update(REAL_BASE + i, { active: r.active, inactive: r.inactive, overloaded: r.overloaded ? 1 : 0, seq: 0 });
    if (r.member === false) {
      const cur = maps().reals.lookup(REAL_BASE + i)!;
      maps().reals.update(REAL_BASE + i, { ...cur, flags: 0 });
    }
  });
}

let nextPort = 1024;

interface Sent {
  src: string;
  sport: number;
  vip?: string;
}

/** Sends SYNs (in the namespace) and returns, for each, the index of the real it went to or -1
 * when it was dropped; the frame's destination and the flow entry must name the same real. */
function send(syns: Sent[]): number[] {
  const outs = inNetns(nsPath, () =>
    syns.map((s) => {
      const frame = buildFrame({ l3: { kind: 'ipv4', src: s.src, dst: s.vip ?? VIPS[0]!, l4: { kind: 'tcp', sport: s.sport, dport: 80, flags: 'SYN' } } });
      const verdict = runner.run(frame);
      const out = Buffer.alloc(runner.outLength);
      out.set(runner.out.subarray(0, runner.outLength));
      return { verdict, out };
    }),
  );
  return outs.map(({ verdict, out }, i) => {
    const s = syns[i]!;
    const key = { src: v4(s.src), dst: v4(s.vip ?? VIPS[0]!), sport: s.sport, dport: 80, proto: 6, family: abi.XLVS_AF_INET };
    const flow = maps().flows.lookup(key);
    if (verdict === XDP.DROP) {
      assert.equal(flow, undefined, `SYN ${i} dropped but a flow was made`);
      return -1;
    }
    assert.equal(verdictName(verdict), 'XDP_PASS', `SYN ${i}`);
    const l3 = parseFrame(out).l3 as ParsedIpv4;
    const real = Number(l3.dst.split('.')[3]) - 1;
    assert.equal(l3.dst, realAddr(real), `SYN ${i} went to ${l3.dst}, not a real's address`);
    assert.equal(flow?.real_id, REAL_BASE + real, `SYN ${i}: frame to ${l3.dst}, flow entry says real id ${flow?.real_id}`);
    return real;
  });
}

function syn(vip?: string): Sent {
  const p = nextPort++;
  return { src: `198.51.${100 + ((p >> 16) & 7)}.${(p >> 8) & 255}`, sport: 1024 + (p & 0xff) * 200 + (p % 200), vip };
}

function randomReals(rnd: () => number, n: number): RealState[] {
  return Array.from({ length: n }, () => ({
    weight: rnd() < 0.15 ? 0 : 1 + Math.floor(rnd() * 5),
    active: Math.floor(rnd() * 12),
    inactive: rnd() < 0.5 ? 0 : Math.floor(rnd() * 600),
    overloaded: rnd() < 0.1,
  }));
}

for (const sched of ['lc', 'wlc', 'sed', 'nq', 'fo', 'ovf'] as LeastSched[]) {
  test(`${sched}: the XDP pick equals IPVS's rule for 200 random count sets`, () => {
    const rnd = prng(0x5c4ed + sched.length * 31 + sched.charCodeAt(0));
    let none = 0;
    for (let c = 0; c < 200; c++) {
      const n = 1 + Math.floor(rnd() * 12);
      const reals = randomReals(rnd, n);
      setService(sched, { weights: reals.map((r) => r.weight) });
      setCounts(reals);
      const want = pickLeast(sched, reals);
      if (want < 0) none++;
      const [got] = send([syn()]);
      assert.equal(got, want, `case ${c}: ${JSON.stringify(reals)}`);
    }
    assert.ok(none > 0 && none < 60, `${none} of 200 cases had no real: the generator must cover both`);
  });
}

test('least family by hand: lc tie, one active against 255 inactive, nq idle, ovf at its weight, fo tie', () => {
  const cases: Array<[LeastSched, RealState[], number]> = [
    ['lc', [{ weight: 5, active: 1, inactive: 0 }, { weight: 1, active: 1, inactive: 0 }], 0],
    ['lc', [{ weight: 1, active: 1, inactive: 0 }, { weight: 1, active: 0, inactive: 255 }], 1],
    ['wlc', [{ weight: 1, active: 1, inactive: 0 }, { weight: 2, active: 1, inactive: 255 }], 1],
    ['nq', [{ weight: 100, active: 1, inactive: 0 }, { weight: 1, active: 5, inactive: 0 }, { weight: 1, active: 0, inactive: 0 }], 2],
    ['sed', [{ weight: 100, active: 1, inactive: 0 }, { weight: 1, active: 5, inactive: 0 }, { weight: 1, active: 0, inactive: 0 }], 0],
    ['ovf', [{ weight: 3, active: 3, inactive: 0 }, { weight: 2, active: 0, inactive: 0 }], 0],
    ['ovf', [{ weight: 3, active: 4, inactive: 0 }, { weight: 2, active: 0, inactive: 0 }], 1],
    ['fo', [{ weight: 5, active: 0, inactive: 0 }, { weight: 9, active: 100, inactive: 0 }, { weight: 9, active: 0, inactive: 0 }], 1],
  ];
  for (const [sched, reals, want] of cases) {
    assert.equal(pickLeast(sched, reals), want, `model: ${sched} ${JSON.stringify(reals)}`);
    setService(sched, { weights: reals.map((r) => r.weight) });
    setCounts(reals);
    assert.deepEqual(send([syn()]), [want], `${sched} ${JSON.stringify(reals)}`);
  }
});

test('wlc over the full 256 reals of a service: the last one, the only idle one, is found', () => {
  // The scan is a bpf_loop over svc_reals; its bound must reach the 256th real. The test's
  // MAX_N reals cover the first ones; the rest repeat real ids, which the scan reads as listed.
  const n = abi.XLVS_MAX_SVC_REALS;
  const weights = Array.from({ length: MAX_N }, () => 1);
  setService('wlc', { weights });
  for (let i = 0; i < MAX_N; i++) maps().realConns.update(REAL_BASE + i, { active: 3, inactive: 0, overloaded: 0, seq: 0 });
  for (let i = MAX_N; i < n; i++) maps().svcReals.update(SVC * n + i, REAL_BASE + (i % (MAX_N - 1)));
  maps().svcReals.update(SVC * n + n - 1, REAL_BASE + MAX_N - 1);
  maps().realConns.update(REAL_BASE + MAX_N - 1, { active: 0, inactive: 0, overloaded: 0, seq: 0 });
  maps().svcs.update(SVC, { ...maps().svcs.lookup(SVC)!, n_reals: n });
  // the idle real is listed at position 39 and again at 255: the first listing wins
  assert.deepEqual(send([syn()]), [MAX_N - 1]);
  maps().svcReals.update(SVC * n + MAX_N - 1, REAL_BASE);
  maps().realConns.update(REAL_BASE + MAX_N - 1, { active: 0, inactive: 0, overloaded: 0, seq: 0 });
  assert.deepEqual(send([syn()]), [MAX_N - 1], 'only at position 255 now');
});

test('rr and wrr: the ring through XDP, 3:1:1 gives exactly 300/100/100 of 500 SYNs in IPVS order', () => {
  const ring = setService('wrr', { weights: [3, 1, 1] });
  assert.deepEqual(ring, buildRing('wrr', [3, 1, 1], 65536));
  const got = send(Array.from({ length: 500 }, () => syn()));
  assert.deepEqual(got.slice(0, 10), [0, 0, 0, 1, 2, 0, 0, 0, 1, 2]);
  const c = [0, 0, 0];
  for (const g of got) c[g]!++;
  assert.deepEqual(c, [300, 100, 100]);
  setService('rr', { weights: [3, 0, 1] });
  assert.deepEqual(send(Array.from({ length: 4 }, () => syn())), [0, 2, 0, 2]);
});

for (const sched of ['sh', 'dh', 'mh'] as const) {
  test(`${sched}: XDP picks the real the TypeScript hash predicts, for every flag combination`, () => {
    const rnd = prng(0xa11ce + sched.charCodeAt(0));
    let fellBack = 0;
    let none = 0;
    for (const [fallback, port] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const n = 3 + Math.floor(rnd() * 8);
      const reals: RealState[] = Array.from({ length: n }, (_, i) => ({ weight: i === 1 ? 0 : 1 + Math.floor(rnd() * 4), active: 0, inactive: 0, addr: addrOf(i) }));
      reals[n - 1]!.overloaded = true;
      const seed = Math.floor(rnd() * 2 ** 32);
      const flags = (fallback ? abi.XLVS_SVC_F_HASH_FALLBACK : 0) | (port ? abi.XLVS_SVC_F_HASH_PORT : 0);
      // mh: a small prime keeps the test's inner map small; the default is tested in unit tests
      const table = setService(sched, { weights: reals.map((r) => r.weight), seed, flags, mhTableSize: 4093 });
      setCounts(reals);
      const syns = Array.from({ length: 150 }, (_, i) => ({ ...syn(VIPS[i % VIPS.length]), src: `198.51.${100 + Math.floor(rnd() * 8)}.${Math.floor(rnd() * 256)}` }));
      const got = send(syns);
      syns.forEach((s, i) => {
        const k = { src: v4(s.src), dst: v4(s.vip!), family: 4, sport: s.sport };
        const want = pickHashed(sched, table, reals, k, seed, { fallback, port });
        if (want < 0) none++;
        else if (pickHashed(sched, table, reals, k, seed, { fallback: false, port }) !== want) fellBack++;
        assert.equal(got[i], want, `${sched} fallback=${fallback} port=${port} seed=${seed}: SYN from ${s.src}:${s.sport} to ${s.vip}`);
      });
    }
    if (sched === 'dh') assert.equal(fellBack, 0, 'dh never falls back');
    else assert.ok(fellBack > 0, 'the fallback path was exercised');
    assert.ok(none > 0, 'the no-real path was exercised');
  });
}

/** n SYNs from n different client addresses (syn() varies the port more than the address). */
function clients(n: number, net: number): Sent[] {
  return Array.from({ length: n }, (_, i) => ({ ...syn(), src: `198.18.${net + (i >> 8)}.${i & 255}` }));
}

/** Every real available but those in `over`, which are over their upper threshold. */
function overloadedExcept(weights: number[], over: (i: number) => boolean): RealState[] {
  return weights.map((w, i) => ({ weight: w, active: over(i) ? 50 : 0, inactive: 0, overloaded: over(i), addr: addrOf(i) }));
}

test('wrr 100:1 with the heavy real over its upper threshold: all 30 SYNs go to the light real', () => {
  // The ring is 100 slots of the heavy real and one of the light: 16 tries mostly see only the
  // heavy one. IPVS walks on to the light real; so must the data plane.
  setService('wrr', { weights: [100, 1] });
  maps().reals.update(REAL_BASE, { ...maps().reals.lookup(REAL_BASE)!, u_threshold: 50 });
  setCounts(overloadedExcept([100, 1], (i) => i === 0));
  assert.deepEqual(send(Array.from({ length: 30 }, () => syn())), Array(30).fill(1));
  assert.equal(maps().realConns.lookup(REAL_BASE + 1)!.inactive, 30, 'the light real counts the 30 flows');
  assert.equal(maps().realConns.lookup(REAL_BASE)!.inactive, 0, 'the heavy real got none');
  // rr the same: 20 reals, all but the last over their threshold
  const weights = Array(20).fill(1);
  setService('rr', { weights });
  setCounts(overloadedExcept(weights, (i) => i < 19));
  assert.deepEqual(send(Array.from({ length: 30 }, () => syn())), Array(30).fill(19));
  // and with nothing available, nothing is picked
  setCounts(overloadedExcept(weights, () => true));
  assert.deepEqual(send([syn(), syn()]), [-1, -1]);
});

for (const sched of ['rr', 'wrr'] as const) {
  test(`${sched}: past the ring's tries, the available reals take turns as the model says`, () => {
    // wrr: the heavy real over its threshold, the light ones share by weight (3:1:2); rr: the
    // first 37 of 40 over theirs, the other three take one turn each.
    const weights = sched === 'wrr' ? [100, 3, 1, 2] : Array(MAX_N).fill(1);
    const over = (i: number): boolean => (sched === 'wrr' ? i === 0 : i < MAX_N - 3);
    const ring = setService(sched, { weights });
    const reals = overloadedExcept(weights, over);
    // the light reals' counts grow with every flow: thresholds high enough never to trip
    setCounts(reals);
    let cursor = 0;
    let fellBack = 0;
    const c = weights.map(() => 0);
    for (let n = 0; n < 300; n++) {
      const want = pickRing(ring, reals, cursor, sched === 'wrr');
      const inRing = ring.slice(cursor % ring.length).concat(ring).slice(0, abi.XLVS_RING_TRIES);
      if (!inRing.some((r) => !over(r))) fellBack++;
      cursor = want.cursor;
      const [got] = send([syn()]);
      assert.equal(got, want.pick, `SYN ${n}, cursor ${cursor}`);
      c[got!]!++;
    }
    assert.equal(maps().svcRr.lookup(SVC), cursor, 'the ring cursor moved as the model says');
    assert.ok(fellBack > 100, `${fellBack} of 300 SYNs fell back past the ring`);
    if (sched === 'wrr') {
      assert.equal(c[0], 0);
      // 3:1:2 within a turn or two
      for (const [i, share] of [[1, 3], [2, 1], [3, 2]] as const) assert.ok(Math.abs(c[i]! - 50 * share) <= 6, `real ${i}: ${c[i]} of 300`);
    } else {
      for (const n of c.slice(MAX_N - 3)) assert.ok(Math.abs(n - 100) <= 6, `${c.slice(MAX_N - 3)} of 300`);
    }
  });
}

for (const sched of ['sh', 'mh'] as const) {
  test(`${sched} with fallback: the hashed slots' reals all unavailable, the one real with room takes every SYN`, () => {
    const weights = Array(MAX_N).fill(1);
    setService(sched, { weights, seed: 99, flags: abi.XLVS_SVC_F_HASH_FALLBACK, mhTableSize: 4093 });
    setCounts(overloadedExcept(weights, (i) => i !== 23));
    assert.deepEqual(send(clients(60, 1)), Array(60).fill(23));
    // without the flag a client whose slot is unavailable gets no real (IPVS), fallback or not
    setService(sched, { weights, seed: 99, flags: 0, mhTableSize: 4093 });
    setCounts(overloadedExcept(weights, (i) => i !== 23));
    assert.ok(send(clients(20, 2)).filter((g) => g === -1).length > 10);
  });

  test(`${sched} fallback: each client keeps its real; when one real leaves, only its clients move`, () => {
    const weights = Array(MAX_N).fill(1);
    const seed = 0x5eed;
    const flags = abi.XLVS_SVC_F_HASH_FALLBACK;
    const table = setService(sched, { weights, seed, flags, mhTableSize: 4093 });
    const room = [3, 11, 25, 38];
    let reals = overloadedExcept(weights, (i) => !room.includes(i));
    setCounts(reals);
    const cs = clients(200, 3);
    const model = (rs: RealState[]): number[] => cs.map((s) =>
      pickHashed(sched, table, rs, { src: v4(s.src), dst: v4(VIPS[0]!), family: 4, sport: s.sport }, seed, { fallback: true, port: false }));
    const want = model(reals);
    const first = send(cs);
    assert.deepEqual(first, want, 'the model');
    const tries = (s: Sent): number[] => Array.from({ length: abi.XLVS_HASH_TRIES }, (_, i) => table[hashAddr(v4(s.src), 4, 0, seed, i) % table.length]!);
    const fellBack = cs.filter((s) => !tries(s).some((r) => room.includes(r))).length;
    assert.ok(fellBack >= 15, `${fellBack} of 200 clients fell back`);
    assert.deepEqual(send(cs.map((s) => ({ ...s, sport: s.sport + 1 }))), first, 'the same clients again: the same reals');
    // real 11 goes over its threshold: its clients move, nobody else does
    reals = overloadedExcept(weights, (i) => !room.includes(i) || i === 11);
    setCounts(reals);
    const after = send(cs.map((s) => ({ ...s, sport: s.sport + 2 })));
    assert.deepEqual(after, model(reals), 'the model, real 11 gone');
    after.forEach((g, i) => {
      if (first[i] === 11) assert.ok(g !== 11 && room.includes(g), `client ${i} moved to ${g}`);
      else assert.equal(g, first[i], `client ${i} stays on ${first[i]}`);
    });
  });
}

test('sh: the same client goes to the same real on a second router with the same config', () => {
  const weights = [1, 2, 1, 3];
  setService('sh', { weights, seed: 4242 });
  const clients = Array.from({ length: 50 }, () => syn());
  const first = send(clients);
  // "another router": the service rebuilt from scratch with the same config, flows gone
  setService('sh', { weights, seed: 4242 });
  assert.deepEqual(send(clients.map((c) => ({ ...c, sport: c.sport + 1 }))), first, 'port ignored, same reals');
  setService('sh', { weights, seed: 4243 });
  assert.notDeepEqual(send(clients), first, 'another seed spreads differently');
});

test('lblc: per destination, the cached real stays until it is overloaded in lblc\'s sense', () => {
  const rnd = prng(0x1b1c);
  const weights = [2, 2, 1, 3, 0];
  setService('lblc', { weights });
  const cached = new Map<string, number>();
  let kept = 0;
  let moved = 0;
  for (let step = 0; step < 300; step++) {
    const reals: RealState[] = weights.map((w) => ({ weight: w, active: Math.floor(rnd() * 5), inactive: Math.floor(rnd() * 50) }));
    setCounts(reals);
    const vip = VIPS[Math.floor(rnd() * VIPS.length)]!;
    const before = cached.get(vip);
    const want = pickLblc(before, reals);
    if (want.cached !== undefined) cached.set(vip, want.cached);
    if (before !== undefined) (want.pick === before ? kept++ : moved++);
    assert.deepEqual(send([syn(vip)]), [want.pick], `step ${step} to ${vip}, cached ${before}: ${JSON.stringify(reals)}`);
    const d = maps().dests.lookup({ dst: v4(vip), svc_id: SVC, family: abi.XLVS_AF_INET });
    assert.equal(d?.reals[0], REAL_BASE + cached.get(vip)!, `step ${step}: dests entry of ${vip}`);
    assert.equal(d?.n, 1);
  }
  assert.ok(kept > 50 && moved > 20, `kept ${kept}, moved ${moved}: both paths must be exercised`);
});

test('lblcr: sets grow, keep their order and bound, and drop removed reals, as the model says', () => {
  const rnd = prng(0x1b1c2);
  const weights = Array.from({ length: 16 }, (_, i) => (i % 4 === 0 ? 2 : 1));
  setService('lblcr', { weights });
  const sets = new Map<string, LblcrSet>();
  let grew = 0;
  for (let step = 0; step < 300; step++) {
    const reals: RealState[] = weights.map((w) => ({ weight: w, active: Math.floor(rnd() * 6), inactive: Math.floor(rnd() * 3) }));
    setCounts(reals);
    const vip = VIPS[Math.floor(rnd() * 2)]!;
    const before = sets.get(vip)?.members.length ?? 0;
    const want = pickLblcr(sets.get(vip), reals, 0n, 1n << 60n);
    if (want.set) sets.set(vip, want.set);
    if ((want.set?.members.length ?? 0) > before) grew++;
    assert.deepEqual(send([syn(vip)]), [want.pick], `step ${step} to ${vip}: ${JSON.stringify(reals)}`);
    const d = maps().dests.lookup({ dst: v4(vip), svc_id: SVC, family: abi.XLVS_AF_INET })!;
    assert.deepEqual(d.reals.slice(0, d.n), want.set!.members.map((i) => REAL_BASE + i), `step ${step}: set of ${vip}`);
  }
  assert.ok(grew > 10, `sets grew ${grew} times`);
  assert.ok([...sets.values()].some((s) => s.members.length === 8), 'a set reached the bound of 8');
  // a real removed from the service leaves every set it was in
  const vip = VIPS[0]!;
  const gone = sets.get(vip)!.members[0]!;
  const reals: RealState[] = weights.map((w, i) => ({ weight: w, active: 0, inactive: 0, member: i !== gone }));
  setCounts(reals);
  const want = pickLblcr(sets.get(vip), reals, 0n, 1n << 60n);
  assert.deepEqual(send([syn(vip)]), [want.pick]);
  const d = maps().dests.lookup({ dst: v4(vip), svc_id: SVC, family: abi.XLVS_AF_INET })!;
  assert.ok(!d.reals.slice(0, d.n).includes(REAL_BASE + gone), `removed real ${gone} still in the set`);
  assert.deepEqual(d.reals.slice(0, d.n), want.set!.members.map((i) => REAL_BASE + i));
});

test('lblcr: a set unchanged for lblcr_shrink_ns loses its most loaded member', async () => {
  setService('lblcr', { weights: [1, 1, 1] });
  const vip = VIPS[2]!;
  const key = { dst: v4(vip), svc_id: SVC, family: abi.XLVS_AF_INET };
  // a set of three, modified just now: nothing shrinks within the hour
  // The data plane's clock is the coarse one (bpf/clock.h), up to a tick behind hrtime: a
  // timestamp of "now" is written 20 ms back so the kernel never sees it in its future.
  const now = (): bigint => process.hrtime.bigint() - 20_000_000n;
  // For the same reason each shrink waits a tick: within one, "now" does not move.
  const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));
  maps().dests.update(key, { used_ns: now(), modified_ns: now(), n: 3, reals: [REAL_BASE, REAL_BASE + 1, REAL_BASE + 2] });
  // overheads 256, 9, 261 (reset before every SYN: the pick counts itself up)
  const counts = (): void => setCounts([{ weight: 1, active: 1, inactive: 0 }, { weight: 1, active: 0, inactive: 9 }, { weight: 1, active: 1, inactive: 5 }]);
  counts();
  assert.deepEqual(send([syn(vip)]), [1], 'the least loaded member');
  assert.equal(maps().dests.lookup(key)!.n, 3, 'modified just now: nothing shrinks within the hour');
  // shrink time 1 ns: the most loaded member (2) leaves
  setCfg(1n);
  try {
    await tick();
    counts();
    assert.deepEqual(send([syn(vip)]), [1]);
    let d = maps().dests.lookup(key)!;
    assert.deepEqual(d.reals.slice(0, d.n), [REAL_BASE, REAL_BASE + 1]);
    // then 0 (256 > 9); the last member takes its place
    await tick();
    counts();
    assert.deepEqual(send([syn(vip)]), [1]);
    d = maps().dests.lookup(key)!;
    assert.deepEqual(d.reals.slice(0, d.n), [REAL_BASE + 1], 'down to one, which stays');
    await tick();
    counts();
    assert.deepEqual(send([syn(vip)]), [1]);
    assert.equal(maps().dests.lookup(key)!.n, 1);
  } finally {
    setCfg(3600n * S);
  }
});
