// SPDX-License-Identifier: Apache-2.0
// xlvs_decap under BPF_PROG_TEST_RUN, without the CLI (which refuses to attach without an
// allow-list and VIPs): the program itself decapsulates nothing until its address sets say so.
// An empty set refuses everything; in particular an empty allow-list allows no one.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { BpfObject } from '../../src/kernel/object.js';
import { ensureBpffs, unpin } from '../../src/kernel/bpffs.js';
import { runXdp, verdictName } from '../../src/kernel/test-run.js';
import { objectMaps, type DecapMaps } from '../../src/decap/maps.js';
import { writeAddressSets, type AddressSets } from '../../src/decap/address-sets.js';
import { parseDecapAddress, type DecapAddress } from '../../src/decap/address.js';
import { readCounters, type DecapCounters } from '../../src/decap/status.js';
import { ABI_LAYOUT } from '../../src/gen/decap-abi.js';
import { buildFrame, type L4Spec, type PacketSpec } from '../../testing/frames.js';

const OBJECT = fileURLToPath(new URL('../../../build/xlvs_decap.bpf.o', import.meta.url));
const pinRoot = `/sys/fs/bpf/xlvs-decap-prog-test-${randomBytes(3).toString('hex')}`;
const ROUTER = { v4: '10.99.0.1', v6: 'fd00:99::1' };
const REAL = { v4: '10.99.0.2', v6: 'fd00:99::2' };
const VIP = { v4: '203.0.113.100', v6: '2001:db8:100::100' };
const CLIENT = { v4: '198.51.100.7', v6: '2001:db8:c::7' };

let obj: BpfObject;
let maps: DecapMaps;
let progFd: number;

before(() => {
  ensureBpffs(pinRoot);
  obj = BpfObject.open(OBJECT, { pinRoot });
  obj.verifyAbi(ABI_LAYOUT);
  obj.load();
  maps = objectMaps(obj);
  progFd = obj.programFd('xlvs_decap');
});

after(() => {
  obj?.close();
  unpin(pinRoot);
});

const MACS = { dst: '02:00:0a:63:00:02', src: '02:00:0a:63:00:01' }; // the real, the router
const UDP: L4Spec = { kind: 'udp', sport: 40000, dport: 7000, payload: Buffer.from('hello') };

/** The inner packet (client to `idst`, a VIP by default) of family `inner`. */
const innerSpec = (inner: 4 | 6, idst?: string): PacketSpec =>
  inner === 4 ? { kind: 'ipv4', src: CLIENT.v4, dst: idst ?? VIP.v4, l4: UDP } : { kind: 'ipv6', src: CLIENT.v6, dst: idst ?? VIP.v6, l4: UDP };

/** A tunnel frame from the router to the real, as the LVS router sends it; `o` changes one address. */
function tunnel(outer: 4 | 6, inner: 4 | 6, o: { osrc?: string; odst?: string; idst?: string } = {}): Buffer {
  const l4 = innerSpec(inner, o.idst);
  const l3: PacketSpec = outer === 4
    ? { kind: 'ipv4', src: o.osrc ?? ROUTER.v4, dst: o.odst ?? REAL.v4, l4 }
    : { kind: 'ipv6', src: o.osrc ?? ROUTER.v6, dst: o.odst ?? REAL.v6, l4 };
  return buildFrame({ eth: MACS, l3 });
}

const addrs = (...a: string[]): DecapAddress[] => a.map((t) => parseDecapAddress('test', t));
const SETS: AddressSets<DecapAddress[]> = {
  allow: addrs(ROUTER.v4, ROUTER.v6),
  local: addrs(REAL.v4, REAL.v6),
  vips: addrs(VIP.v4, VIP.v6),
};

/** Runs the frame; returns the verdict and which counters moved. */
function run(frame: Buffer): { verdict: string; out: Buffer; moved: Partial<DecapCounters> } {
  const c0 = readCounters(maps);
  const r = runXdp(progFd, frame);
  const c1 = readCounters(maps);
  const moved = Object.fromEntries(Object.entries(c1).filter(([k, v]) => v !== c0[k as keyof DecapCounters]).map(([k, v]) => [k, v - c0[k as keyof DecapCounters]]));
  return { verdict: verdictName(r.verdict), out: r.out, moved };
}

const KINDS = [[4, 4], [6, 6], [4, 6], [6, 4]] as const;

test('a program whose sets are empty decapsulates nothing: tunnels pass untouched as not_local', () => {
  writeAddressSets(maps, { allow: [], local: [], vips: [] });
  for (const [o, i] of KINDS) {
    const frame = tunnel(o, i);
    const r = run(frame);
    assert.deepEqual([r.verdict, r.moved], ['XDP_PASS', { not_local: 1n }], `${i}in${o}`);
    assert.deepEqual(r.out, frame, `${i}in${o}: untouched`);
  }
});

test('the allow-list defaults to deny: with local addresses and VIPs but no allowed source, tunnels are dropped', () => {
  writeAddressSets(maps, { ...SETS, allow: [] });
  for (const [o, i] of KINDS) {
    const r = run(tunnel(o, i));
    assert.deepEqual([r.verdict, r.moved], ['XDP_DROP', { not_allowed: 1n }], `${i}in${o}`);
  }
});

test('each set refuses on its own: outer destination, outer source, inner destination', () => {
  writeAddressSets(maps, SETS);
  const cases: [string, { osrc?: string; odst?: string; idst?: string }, 4 | 6, 4 | 6, string, keyof DecapCounters][] = [
    ['IPIP to another host', { odst: '10.99.0.9' }, 4, 4, 'XDP_PASS', 'not_local'],
    ['IPv6-in-IPv6 to another host', { odst: 'fd00:99::9' }, 6, 6, 'XDP_PASS', 'not_local'],
    ['IPIP from a source not allowed', { osrc: '10.99.0.3' }, 4, 4, 'XDP_DROP', 'not_allowed'],
    ['IPv6-in-IPv6 from a source not allowed', { osrc: 'fd00:99::3' }, 6, 6, 'XDP_DROP', 'not_allowed'],
    ['IPIP to an inner address that is no VIP', { idst: REAL.v4 }, 4, 4, 'XDP_DROP', 'not_vip'],
    ['IPv6-in-IPv6 to an inner address that is no VIP', { idst: '2001:db8:e::77' }, 6, 6, 'XDP_DROP', 'not_vip'],
    ['IPv4-in-IPv6 to an inner address that is no VIP', { idst: '192.0.2.77' }, 6, 4, 'XDP_DROP', 'not_vip'],
  ];
  for (const [what, o, outer, inner, verdict, counter] of cases) {
    const frame = tunnel(outer, inner, o);
    const r = run(frame);
    assert.deepEqual([r.verdict, r.moved], [verdict, { [counter]: 1n }], what);
    if (verdict === 'XDP_PASS') assert.deepEqual(r.out, frame, `${what}: untouched`);
  }
});

test('a tunnel that passes all three checks is stripped to the inner packet, MACs kept', () => {
  writeAddressSets(maps, SETS);
  for (const [o, i] of KINDS) {
    const r = run(tunnel(o, i));
    assert.equal(r.verdict, 'XDP_PASS');
    assert.deepEqual(r.moved, o === 4 ? { decap_v4: 1n } : { decap_v6: 1n }, `${i}in${o}`);
    // Exactly the frame the client's packet would have been on this link, untunnelled.
    assert.deepEqual(r.out, buildFrame({ eth: MACS, l3: innerSpec(i) }), `${i}in${o}`);
  }
});
