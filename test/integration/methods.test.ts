// SPDX-License-Identifier: Apache-2.0
// Forwarding methods end to end through the real daemon: xlvsd in the lab router with a config
// that sets a method per real, local addresses and IPv6 VIPs; real HTTP traffic from the
// client namespace. The same checks as methods-dataplane.test.ts (which writes the maps
// itself), here through config -> reconciler -> maps, plus the daemon keeping the reals'
// neighbours resolved (Neighbours, wired by the daemon) and the counters over the API.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../../lab/lab.js';
import { addLabV6, type LabV6Addresses } from '../../lab/lab-v6.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { decapCounters, echoAnswers, METHOD_LAB, prepareMethodLab, removeDecapPins } from '../../lab/method-reals.js';
import type { ServiceStatus } from '../../src/model/types.js';

const { local4: LOCAL4, local6: LOCAL6, ports: PORT } = METHOD_LAB;
type Method = keyof typeof PORT;
const FULLNAT_CONNS = 200;

let lab: Lab;
let v6: LabV6Addresses;
let xlvsd: XlvsdProcess | undefined;

function config(): string {
  const svc = (vip: string, m: Method, reals: string[]): string =>
    `  - vip: ${vip}\n    port: ${PORT[m]}\n    scheduler: rr\n    reals:\n${reals.map((a) => `      - { address: ${a}, method: ${m} }`).join('\n')}`;
  const r4 = lab.addr.reals;
  return [
    'interfaces: { public: pub0, private: priv0 }',
    `local_addresses: { v4: ${LOCAL4}, v6: "${LOCAL6}" }`,
    'services:',
    ...(['nat', 'dr', 'tun'] as const).flatMap((m) => [svc(lab.addr.vip, m, r4.slice(0, 2)), svc(v6.vip, m, v6.reals.slice(0, 2))]),
    svc(lab.addr.vip, 'fullnat', r4.slice(2, 4)),
    svc(v6.vip, 'fullnat', v6.reals.slice(2, 4)),
    '',
  ].join('\n');
}

before(async () => {
  lab = await Lab.create({ reals: 4 });
  v6 = await addLabV6(lab);
  await prepareMethodLab(lab, [lab.addr.vip, v6.vip]);
  xlvsd = await XlvsdProcess.start(lab, { config: config() });
});

after(async () => {
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  if (lab) for (const i of [0, 1]) removeDecapPins(lab, i);
  await lab?.destroy();
});

function svc(list: ServiceStatus[], vip: string, port: number): ServiceStatus {
  const s = list.find((x) => x.vip === vip && x.port === port);
  assert.ok(s, `service ${vip}:${port} listed`);
  return s;
}

/** New connections through the VIP; the daemon resolves the next hops, so none may fail. */
async function check(vip: string, m: Method, peer: string, local: (i: number) => string): Promise<void> {
  const r = await lab.client('http', ['--host', vip, '--port', String(PORT[m]), '--count', '20']);
  assert.equal(r.errors, 0, `${JSON.stringify(r.errorSamples)}; drops ${JSON.stringify(await xlvsd!.api.drops(), (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x))}`);
  const answers = echoAnswers(r.counts);
  const byReal = answers.reduce<Record<string, number>>((acc, a) => ({ ...acc, [a.real]: (acc[a.real] ?? 0) + 1 }), {});
  assert.deepEqual(byReal, { rs1: 10, rs2: 10 });
  for (const a of answers) {
    assert.equal(a.peer, peer, `${a.real} saw the client`);
    assert.equal(a.local, local(Number(a.real.slice(2)) - 1), `${a.real} was reached at`);
  }
  const s = svc(await xlvsd!.api.listServices(), vip, PORT[m]);
  for (const real of s.reals) {
    assert.equal(real.method, m);
    assert.equal(real.counters.conns, 10n);
    assert.ok(real.counters.packets_out >= 30n, `${real.address}: replies through the router counted out (${real.counters.packets_out})`);
  }
}

test('nat, IPv4 and IPv6', async () => {
  await check(lab.addr.vip, 'nat', lab.addr.client, (i) => lab.addr.reals[i]!);
  await check(v6.vip, 'nat', v6.client, (i) => v6.reals[i]!);
});

test('dr, IPv4 and IPv6: the reals hold the VIP, replies go through the router', async () => {
  await check(lab.addr.vip, 'dr', lab.addr.client, () => lab.addr.vip);
  await check(v6.vip, 'dr', v6.client, () => v6.vip);
});

test('tun, IPv4 and IPv6: every packet to a real went through xlvs_decap', async () => {
  const before = await Promise.all([0, 1].map((i) => decapCounters(lab, i)));
  await check(lab.addr.vip, 'tun', lab.addr.client, () => lab.addr.vip);
  await check(v6.vip, 'tun', v6.client, () => v6.vip);
  for (const i of [0, 1]) {
    const now = await decapCounters(lab, i);
    assert.ok(now.decap_v4! - before[i]!.decap_v4! >= 40n, `rs${i + 1}: IPIP headers stripped`);
    assert.ok(now.decap_v6! - before[i]!.decap_v6! >= 40n, `rs${i + 1}: IPv6 tunnel headers stripped`);
  }
});

test(`fullnat: reals without a route back serve ${FULLNAT_CONNS} parallel connections from the local address, no port shared`, async () => {
  await assert.rejects(lab.exec(lab.ns.reals[2]!, ['ip', 'route', 'get', lab.addr.client]), /unreachable/i);
  const r = await lab.client('http', ['--host', lab.addr.vip, '--port', String(PORT.fullnat), '--count', String(FULLNAT_CONNS), '--concurrency', String(FULLNAT_CONNS)]);
  assert.equal(r.errors, 0, JSON.stringify(r.errorSamples));
  const answers = echoAnswers(r.counts);
  assert.equal(answers.length, FULLNAT_CONNS);
  assert.ok(answers.every((a) => a.peer === LOCAL4), `every real saw ${LOCAL4} as the client`);
  for (const real of ['rs3', 'rs4']) {
    const mine = answers.filter((a) => a.real === real);
    assert.equal(mine.length, FULLNAT_CONNS / 2);
    assert.equal(new Set(mine.map((a) => a.port)).size, mine.length, `${real}: no local port shared`);
  }
  assert.ok(Math.max(...answers.map((a) => a.open)) >= 50, 'the connections were open at the same time');
});

test('fullnat, IPv6: reals without a route back serve parallel connections from the local IPv6 address, no port shared', async () => {
  await assert.rejects(lab.exec(lab.ns.reals[2]!, ['ip', '-6', 'route', 'get', v6.client]), /unreachable/i);
  const n = 60;
  const r = await lab.client('http', ['--host', v6.vip, '--port', String(PORT.fullnat), '--count', String(n), '--concurrency', String(n)]);
  assert.equal(r.errors, 0, JSON.stringify(r.errorSamples));
  const answers = echoAnswers(r.counts);
  assert.equal(answers.length, n);
  assert.ok(answers.every((a) => a.peer === LOCAL6), `every real saw ${LOCAL6} as the client: ${JSON.stringify(answers.slice(0, 3))}`);
  for (const real of ['rs3', 'rs4']) {
    const mine = answers.filter((a) => a.real === real);
    assert.equal(mine.length, n / 2);
    assert.equal(new Set(mine.map((a) => a.port)).size, mine.length, `${real}: no local port shared`);
  }
  const s = svc(await xlvsd!.api.listServices(), v6.vip, PORT.fullnat);
  for (const real of s.reals) assert.equal(real.counters.conns, BigInt(n / 2));
});
