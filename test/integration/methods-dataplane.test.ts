// SPDX-License-Identifier: Apache-2.0
// Forwarding methods through the real XDP programs, without the daemon: the test writes the
// maps itself (lab/dataplane-fixture.ts) and sends real HTTP traffic from the client
// namespace to the VIP, for nat, dr, tun and fullnat over IPv4 and nat, dr, tun over IPv6.
// The reals answer with the peer they saw (lab/peer-echo-server.ts). The daemon-driven
// version of these checks is methods.test.ts.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../../lab/lab.js';
import { addLabV6, type LabV6Addresses } from '../../lab/lab-v6.js';
import { DataplaneFixture, type FixtureIds, type Method } from '../../lab/dataplane-fixture.js';
import { decapCounters, echoAnswers, METHOD_LAB, prepareMethodLab, removeDecapPins } from '../../lab/method-reals.js';
import { Neighbours, netlinkNeighbours } from '../../src/dataplane/neighbours.js';
import { Netlink } from '../../src/host/netlink.js';
import { inNetns } from '../../src/kernel/test-run.js';
import { XLVS_DROP_NO_NEIGH, XLVS_DROP_ENCAP, XLVS_DROP_NO_PORT } from '../../src/gen/abi.js';

const { local4: LOCAL4, local6: LOCAL6 } = METHOD_LAB;
const PORT: Record<Method, number> = METHOD_LAB.ports;
const FULLNAT_CONNS = 200;

let lab: Lab;
let v6: LabV6Addresses;
let dp: DataplaneFixture | undefined;
const ids: Record<string, FixtureIds> = {};

before(async () => {
  lab = await Lab.create({ reals: 4 });
  v6 = await addLabV6(lab);
  const { router } = lab.ns;
  // rs1, rs2: nat, dr and tun (both families); rs3, rs4: fullnat, with no route to clients.
  await prepareMethodLab(lab, [lab.addr.vip, v6.vip]);

  dp = await DataplaneFixture.attach(lab, { v4: LOCAL4, v6: LOCAL6 });
  const r4 = lab.addr.reals;
  for (const m of ['nat', 'dr', 'tun'] as const) {
    ids[`${m}4`] = dp.addService({ vip: lab.addr.vip, port: PORT[m], reals: [0, 1].map((i) => ({ address: r4[i]!, method: m })) });
    ids[`${m}6`] = dp.addService({ vip: v6.vip, port: PORT[m], reals: [0, 1].map((i) => ({ address: v6.reals[i]!, method: m })) });
  }
  ids.fullnat4 = dp.addService({ vip: lab.addr.vip, port: PORT.fullnat, reals: [2, 3].map((i) => ({ address: r4[i]!, method: 'fullnat' })) });

  // What the daemon will do at apply: managed neighbour entries for every real (over a netlink
  // socket opened inside the router's namespace, as the daemon's is there).
  const nl = inNetns(lab.nsPath(router), () => Netlink.open());
  const neigh = new Neighbours({ dev: lab.ifaces.private, log: lab.log, host: netlinkNeighbours(nl) });
  const added = await neigh.refresh([...r4.map((address) => ({ address, family: 4 as const })), ...v6.reals.slice(0, 2).map((address) => ({ address, family: 6 as const }))]).finally(() => nl.close());
  assert.equal(added.added.length, 6);
  await waitResolved([...r4, ...v6.reals.slice(0, 2)]);
});

after(async () => {
  await dp?.destroy().catch((e: unknown) => console.error('fixture teardown failed', e));
  if (lab) for (const i of [0, 1]) removeDecapPins(lab, i);
  await lab?.destroy();
});

/** Polls the router's neighbour table (bounded: 5 s) until every address has a MAC. */
async function waitResolved(addrs: string[]): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const { stdout } = await lab.exec(lab.ns.router, ['ip', '-j', 'neigh', 'show', 'dev', lab.ifaces.private]);
    const rows = JSON.parse(stdout) as Array<{ dst: string; lladdr?: string }>;
    const missing = addrs.filter((a) => !rows.some((r) => r.dst === a && r.lladdr !== undefined));
    if (missing.length === 0) return;
    if (Date.now() > deadline) assert.fail(`neighbours not resolved within 5 s: ${missing.join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const get = (host: string, port: number, count: number, concurrency = 1) =>
  lab.client('http', ['--host', host, '--port', String(port), '--count', String(count), '--concurrency', String(concurrency)]);

/** 20 requests to host:port over rr; every real must have seen expectPeer connect to expectLocal. */
async function spreadAndPeer(host: string, port: number, key: string, expectPeer: string, expectLocal: (real: number) => string): Promise<void> {
  const r = await get(host, port, 20);
  assert.equal(r.errors, 0, `${JSON.stringify(r.errorSamples)}; data plane: ${JSON.stringify(dp!.outcomes())}`);
  const answers = echoAnswers(r.counts);
  assert.deepEqual(
    answers.reduce<Record<string, number>>((acc, a) => ({ ...acc, [a.real]: (acc[a.real] ?? 0) + 1 }), {}),
    { rs1: 10, rs2: 10 },
    'round robin over the two reals',
  );
  assert.ok(answers.every((a) => a.peer === expectPeer), `every real saw ${expectPeer}: ${JSON.stringify(answers.slice(0, 3))}`);
  for (const a of answers) assert.equal(a.local, expectLocal(Number(a.real.slice(2)) - 1), `${a.real} was reached at`);
  for (const id of ids[key]!.reals) {
    const c = dp!.realCounters(id);
    assert.equal(c.conns, 10n, `real ${id}: 10 new flows`);
    assert.ok(c.packets_in >= 10n * 4n, `real ${id}: client packets counted in (${c.packets_in})`);
    assert.ok(c.packets_out >= 10n * 3n, `real ${id}: replies came back through xlvs_private (${c.packets_out})`);
  }
}

test('nat over IPv4: rr spread, the real sees the client', async () => {
  await spreadAndPeer(lab.addr.vip, PORT.nat, 'nat4', lab.addr.client, (i) => lab.addr.reals[i]!);
});

test('dr over IPv4: MAC rewrite only, the real (VIP on lo) sees the client, replies via the router', async () => {
  await spreadAndPeer(lab.addr.vip, PORT.dr, 'dr4', lab.addr.client, () => lab.addr.vip);
});

test('tun over IPv4: IPIP to the real, stripped by xlvs_decap, the real sees the client', async () => {
  const before = await Promise.all([0, 1].map((i) => decapCounters(lab, i)));
  await spreadAndPeer(lab.addr.vip, PORT.tun, 'tun4', lab.addr.client, () => lab.addr.vip);
  for (const i of [0, 1]) {
    const now = await decapCounters(lab, i);
    // 10 connections, each at least SYN, ACK, request, ACK of the answer, FIN: all tunnelled.
    assert.ok(now.decap_v4! - before[i]!.decap_v4! >= 40n, `rs${i + 1} stripped ${now.decap_v4! - before[i]!.decap_v4!} IPIP headers`);
    assert.equal(now.not_allowed, 0n);
  }
});

test('nat over IPv6', async () => {
  await spreadAndPeer(v6.vip, PORT.nat, 'nat6', v6.client, (i) => v6.reals[i]!);
});

test('dr over IPv6', async () => {
  await spreadAndPeer(v6.vip, PORT.dr, 'dr6', v6.client, () => v6.vip);
});

test('tun over IPv6 (IPv6-in-IPv6)', async () => {
  const before = await Promise.all([0, 1].map((i) => decapCounters(lab, i)));
  await spreadAndPeer(v6.vip, PORT.tun, 'tun6', v6.client, () => v6.vip);
  for (const i of [0, 1]) {
    const now = await decapCounters(lab, i);
    assert.ok(now.decap_v6! - before[i]!.decap_v6! >= 40n, `rs${i + 1} stripped ${now.decap_v6! - before[i]!.decap_v6!} IPv6 tunnel headers`);
  }
});

test(`fullnat: reals with no route to the client serve ${FULLNAT_CONNS} parallel connections from the local address, no port shared`, async () => {
  // The premise: rs3 cannot reach the client by itself.
  await assert.rejects(lab.exec(lab.ns.reals[2]!, ['ip', 'route', 'get', lab.addr.client]), /unreachable/i);
  const r = await get(lab.addr.vip, PORT.fullnat, FULLNAT_CONNS, FULLNAT_CONNS);
  assert.equal(r.errors, 0, JSON.stringify(r.errorSamples));
  const answers = echoAnswers(r.counts);
  assert.equal(answers.length, FULLNAT_CONNS);
  assert.ok(answers.every((a) => a.peer === LOCAL4), `every real saw the local address ${LOCAL4}`);
  assert.ok(answers.every((a) => a.local === lab.addr.reals[Number(a.real.slice(2)) - 1]), 'and was reached at its own address');
  for (const real of ['rs3', 'rs4']) {
    const mine = answers.filter((a) => a.real === real);
    assert.equal(mine.length, FULLNAT_CONNS / 2, `${real} got half`);
    assert.equal(new Set(mine.map((a) => a.port)).size, mine.length, `${real}: every connection had its own local port`);
  }
  const peak = Math.max(...answers.map((a) => a.open));
  assert.ok(peak >= 50, `the connections were open at the same time (peak ${peak} open on one real)`);
  assert.equal(dp!.drops(XLVS_DROP_NO_PORT), 0n);
});

test('nothing was dropped for an unresolved neighbour or a failed encapsulation', () => {
  assert.equal(dp!.drops(XLVS_DROP_NO_NEIGH), 0n);
  assert.equal(dp!.drops(XLVS_DROP_ENCAP), 0n);
});
