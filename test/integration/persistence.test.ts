// SPDX-License-Identifier: Apache-2.0
// Persistence and port groups end to end: real TCP and UDP from client addresses in two /24s,
// through xlvsd's XDP programs, to three real servers.
//
// Persistence (ipvsadm -p 2 -M 255.255.255.0): one template per client /24 and service, shared
// by every frontend of the port group (80, 9000 and udp/5353); it lives 2 s after its last use;
// a quiescent real keeps its persistent clients, a removed one does not.
// Port groups: `port: all` balances every port of a VIP and keeps the client's destination
// port; a specific-port service on the same VIP wins; `also:` adds a second VIP to a service.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { bpftoolDump } from '../../testing/bpftool-dump.js';
import { fileURLToPath } from 'node:url';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { captureStderr, waitForLine } from '../../lab/child.js';
import type { RealSpec, ServiceStatus } from '../../src/model/types.js';

const VIP = '203.0.113.100';
/** The port-all VIP, and the second VIP of the same service (`also:`). */
const VIP_ALL = '203.0.113.110';
const VIP_ALSO = '203.0.113.111';
/** Client sources: A and C share a /24, B and D are each in their own. */
const SRC_A = '203.0.113.2';
const SRC_C = '203.0.113.3';
const SRC_B = '198.51.100.2';
const SRC_D = '192.0.2.2';
const PERSIST_S = 2;
/** Ports only the extra listeners (started below in every real) serve. */
const EXTRA = { http: 8080, tcp: 7000, udp: 6000 };
const REALSERVER_JS = fileURLToPath(new URL('../../lab/realserver.js', import.meta.url));

const REALS3 = '[{ address: 10.77.0.11 }, { address: 10.77.0.12 }, { address: 10.77.0.13 }]';
const CONFIG = `interfaces: { public: pub0, private: priv0 }
services:
  - vip: ${VIP}
    ports: [80, 9000]
    also: [{ vip: ${VIP}, port: 5353, protocol: udp }]
    scheduler: rr
    persistence: { timeout: ${PERSIST_S}, netmask: 24 }
    reals: ${REALS3}
  - vip: ${VIP_ALL}
    port: all
    also: [{ vip: ${VIP_ALSO}, port: 80 }]
    scheduler: rr
    reals: ${REALS3}
  - { vip: ${VIP_ALL}, port: all, protocol: udp, scheduler: rr, reals: ${REALS3} }
  - { vip: ${VIP_ALL}, port: 9000, scheduler: rr, reals: [{ address: 10.77.0.13, port: 9000 }] }
`;
const PERSIST_SVC = { vip: VIP, port: 80, protocol: 'tcp' as const };
const NAMES = ['rs1', 'rs2', 'rs3'];
const addrOf = (name: string): string => `10.77.0.${10 + Number(name.slice(2))}`;
/** The real rr picks after `name` (all three in the ring). */
const succ = (name: string): string => NAMES[(NAMES.indexOf(name) + 1) % NAMES.length]!;

let lab: Lab;
let xlvsd: XlvsdProcess;

before(async () => {
  lab = await Lab.create();
  await lab.startRealServers();
  const sh = (ns: string, ...argv: string[]) => lab.exec(ns, argv);
  // The router owns the extra VIPs (it answers ARP for them) and routes the extra client /24s.
  for (const vip of [VIP_ALL, VIP_ALSO]) await sh(lab.ns.router, 'ip', 'addr', 'add', `${vip}/32`, 'dev', 'pub0');
  for (const net of ['198.51.100.0/24', '192.0.2.0/24']) await sh(lab.ns.router, 'ip', 'route', 'add', net, 'via', SRC_A, 'dev', 'pub0');
  await sh(lab.ns.client, 'ip', 'addr', 'add', `${SRC_C}/24`, 'dev', 'eth0');
  for (const a of [SRC_B, SRC_D]) await sh(lab.ns.client, 'ip', 'addr', 'add', `${a}/32`, 'dev', 'eth0');
  // xlvs_private sends replies only to a resolved neighbour (a VIP-sourced packet handed to the
  // kernel would be a martian there), so the router must know C as it knows A: let it resolve C.
  await sh(lab.ns.client, 'ping', '-c', '1', '-W', '2', '-I', SRC_C, lab.addr.routerPublic);
  // Extra listeners on ports the lab's servers do not use, for the port-all service.
  await Promise.all(lab.ns.reals.map(async (ns, i) => {
    const child = lab.spawn(ns, [process.execPath, REALSERVER_JS, '--name', `rs${i + 1}`, '--http-port', String(EXTRA.http),
      '--tcp-port', String(EXTRA.tcp), '--udp-port', String(EXTRA.udp), '--exit-on-stdin-close', '1']);
    await waitForLine(child, 'READY', 10_000, captureStderr(child, () => undefined));
  }));
  xlvsd = await XlvsdProcess.start(lab, { config: CONFIG, extraArgs: ['--reap-interval-ms', '200'] });
});

after(async () => {
  await xlvsd?.destroy().catch((e) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs fn with every packet from the client to VIP leaving from `src` (a route's preferred source). */
async function fromSource<T>(src: string, fn: () => Promise<T>): Promise<T> {
  await lab.exec(lab.ns.client, ['ip', 'route', 'replace', `${VIP}/32`, 'dev', 'eth0', 'src', src]);
  try {
    return await fn();
  } finally {
    await lab.exec(lab.ns.client, ['ip', 'route', 'del', `${VIP}/32`]);
  }
}

/** n HTTP requests on new connections; the name of every real that answered, with its count. */
async function http(host: string, port: number, n: number): Promise<Record<string, number>> {
  const r = await lab.client('http', ['--host', host, '--port', String(port), '--count', String(n)]);
  assert.equal(r.errors, 0, `http ${host}:${port}: ${r.errorSamples.join('; ')}`);
  return r.counts;
}

async function udp(host: string, port: number, n: number): Promise<Record<string, number>> {
  const r = await lab.client('udp', ['--host', host, '--port', String(port), '--count', String(n)]);
  assert.equal(r.errors, 0, `udp ${host}:${port}: ${r.errorSamples.join('; ')}`);
  return r.counts;
}

/** n short line-protocol connections (PING -> name) in parallel; their reals, counted. */
async function pings(host: string, port: number, n: number): Promise<Record<string, number>> {
  const sessions = Array.from({ length: n }, () => lab.hold({ host, port, intervalMs: 50, durationMs: 300 }));
  const counts: Record<string, number> = {};
  for (const s of sessions) {
    const end = await s.result;
    assert.ok('done' in end && s.replies.length > 0, `ping session to ${host}:${port}: ${JSON.stringify(end)}`);
    const names = new Set(s.replies.map((x) => x.reply));
    assert.equal(names.size, 1, `one connection, one real: ${[...names]}`);
    const [name] = names;
    counts[name!] = (counts[name!] ?? 0) + 1;
  }
  return counts;
}

/** The one real all of `counts` went to (fails if they went to several). */
function only(counts: Record<string, number>, what: string): string {
  const names = Object.keys(counts);
  assert.equal(names.length, 1, `${what}: expected one real, got ${JSON.stringify(counts)}`);
  return names[0]!;
}

function service(list: ServiceStatus[], vip: string, port: number, protocol = 'tcp'): ServiceStatus {
  const s = list.find((x) => x.frontends.some((f) => f.vip === vip && f.port === port && f.protocol === protocol));
  assert.ok(s, `service with frontend ${protocol}/${vip}:${port} listed`);
  return s;
}

/** New flows scheduled to each real of the service, by real name. */
async function newFlows(vip: string, port: number, protocol = 'tcp'): Promise<Record<string, bigint>> {
  const s = service(await xlvsd.api.listServices(), vip, port, protocol);
  return Object.fromEntries(s.reals.map((r) => [`rs${Number(r.address.split('.')[3]) - 10}`, r.counters.conns]));
}

/** A hold that keeps a connection (and so its persistence template) busy; its real. */
async function keepAlive(): Promise<{ real: string; stop: () => Promise<unknown> }> {
  const h = lab.hold({ host: VIP, port: 9000, intervalMs: 100, durationMs: 30_000 });
  const [first] = await h.waitForReplies(1, 5000);
  return { real: first!.reply, stop: () => h.stop() };
}

const persistReal = (address: string, weight: number): RealSpec =>
  ({ address, port: 0, weight, method: 'nat', upper_threshold: 0, lower_threshold: 0 });

/** Persistence templates in the kernel map (bpftool, not our own code). */
function templates(): number {
  return bpftoolDump<unknown>(`${xlvsd.pinDir}/maps/persist`).length;
}

let realA = ''; // client A's real after the first test
let realB = '';

test('persistence: a client /24 sticks to one real across every port of the group; another /24 has its own', async () => {
  const before = await newFlows(VIP, 80);
  const held = await fromSource(SRC_A, keepAlive);
  realA = held.real;
  try {
    // 30 new TCP connections from A: 15 HTTP to 80, 14 line connections to 9000, plus the held one.
    const a80 = await fromSource(SRC_A, () => http(VIP, 80, 15));
    const a9000 = await fromSource(SRC_A, () => pings(VIP, 9000, 14));
    assert.deepEqual(a80, { [realA]: 15 }, 'port 80 follows the template');
    assert.deepEqual(a9000, { [realA]: 14 }, 'port 9000 follows the same template');
    assert.deepEqual(await fromSource(SRC_A, () => udp(VIP, 5353, 5)), { [realA]: 5 }, 'so does udp/5353 (also:)');
    // B, in another /24, is scheduled (rr moves on) and keeps its own real.
    realB = only(await fromSource(SRC_B, () => http(VIP, 80, 10)), 'client B');
    assert.equal(realB, succ(realA), 'B got the next real in rr order');
    assert.deepEqual(await fromSource(SRC_B, () => pings(VIP, 9000, 3)), { [realB]: 3 });
    // C shares A's /24, so A's template.
    assert.deepEqual(await fromSource(SRC_C, () => http(VIP, 80, 10)), { [realA]: 10 }, 'client C (same /24 as A)');
  } finally {
    await held.stop();
  }
  const after = await newFlows(VIP, 80);
  const third = NAMES.find((n) => n !== realA && n !== realB)!;
  assert.equal(after[realA]! - before[realA]!, 15n + 15n + 5n + 10n, `new flows to ${realA}`);
  assert.equal(after[realB]! - before[realB]!, 13n, `new flows to ${realB}`);
  assert.equal(after[third]! - before[third]!, 0n, `no flow to ${third}`);
});

test('persistence: a template lives its timeout after its last use, each new flow included; then the client is scheduled afresh', async () => {
  const stay = (counts: Record<string, number>, what: string) => assert.deepEqual(counts, { [realA]: 1 }, what);
  stay(await fromSource(SRC_A, () => http(VIP, 80, 1)), 'A still on its real');
  // One datagram per new flow, each sooner than the timeout after the previous one but, together,
  // well past the timeout after the first: only a refresh by each new flow keeps the template.
  const t0 = Date.now();
  for (let i = 0; i < 6; i++) {
    await sleep(700);
    stay(await fromSource(SRC_A, () => udp(VIP, 5353, 1)), `udp request ${i + 1} at ${Date.now() - t0} ms`);
  }
  assert.ok(Date.now() - t0 > PERSIST_S * 1000 + 1000, 'the requests spanned more than the timeout');
  // Idle for the timeout plus slack: the template expires and the reaper deletes it (B's too).
  await sleep(PERSIST_S * 1000 + 1500);
  assert.equal(templates(), 0, 'expired templates reaped');
  const fresh = only(await fromSource(SRC_A, () => http(VIP, 80, 3)), 'A after expiry');
  assert.equal(fresh, succ(realB), 'scheduled afresh: rr moved on past B\'s real');
  assert.notEqual(fresh, realA);
  assert.deepEqual(await fromSource(SRC_C, () => pings(VIP, 9000, 3)), { [fresh]: 3 }, 'and the new template is shared again');
  realA = fresh;
});

test('persistence: a quiescent real keeps its persistent clients; a removed real does not', async () => {
  const held = await fromSource(SRC_A, keepAlive);
  assert.equal(held.real, realA);
  try {
    await xlvsd.api.addReal(PERSIST_SVC, persistReal(addrOf(realA), 0));
    assert.deepEqual(await fromSource(SRC_A, () => http(VIP, 80, 6)), { [realA]: 6 }, 'quiescent real keeps client A');
    assert.deepEqual(await fromSource(SRC_C, () => pings(VIP, 9000, 3)), { [realA]: 3 }, 'and the rest of its /24');
    const d = only(await fromSource(SRC_D, () => http(VIP, 80, 6)), 'new client D');
    assert.notEqual(d, realA, 'a new client is not sent to the quiescent real');

    await xlvsd.api.removeReal(PERSIST_SVC, addrOf(realA), 0);
    const moved = only(await fromSource(SRC_A, () => http(VIP, 80, 6)), 'A after its real was removed');
    assert.notEqual(moved, realA, 'the template of a removed real is not used');
    assert.deepEqual(await fromSource(SRC_C, () => http(VIP, 80, 3)), { [moved]: 3 }, 'the /24 has a new template');
  } finally {
    await held.stop();
  }
  await xlvsd.api.addReal(PERSIST_SVC, persistReal(addrOf(realA), 1));
});

test('port all: new connections to any port of the VIP are balanced and reach the real on that port', async () => {
  assert.deepEqual(await http(VIP_ALL, EXTRA.http, 30), { rs1: 10, rs2: 10, rs3: 10 });
  assert.deepEqual(await http(VIP_ALL, 80, 30), { rs1: 10, rs2: 10, rs3: 10 });
  assert.deepEqual(await pings(VIP_ALL, EXTRA.tcp, 6), { rs1: 2, rs2: 2, rs3: 2 });
  assert.deepEqual(await udp(VIP_ALL, EXTRA.udp, 30), { rs1: 10, rs2: 10, rs3: 10 }, 'udp port-all service');
  assert.deepEqual(await udp(VIP_ALL, 5353, 6), { rs1: 2, rs2: 2, rs3: 2 });
  // A port nothing listens on is still scheduled to a real (which refuses it).
  const before = await newFlows(VIP_ALL, 0);
  const refused = await lab.client('http', ['--host', VIP_ALL, '--port', '8999', '--count', '3', '--request-timeout-ms', '2000']);
  assert.equal(refused.errors, 3);
  const after = await newFlows(VIP_ALL, 0);
  assert.deepEqual(NAMES.map((n) => after[n]! - before[n]!), [1n, 1n, 1n], 'one new flow per real');
});

test('port all: a specific-port service on the same VIP wins over the port-all one', async () => {
  const before = await newFlows(VIP_ALL, 0);
  assert.deepEqual(await pings(VIP_ALL, 9000, 6), { rs3: 6 }, 'VIP:9000 is its own service (rs3 only)');
  assert.deepEqual(await newFlows(VIP_ALL, 0), before, 'the port-all service scheduled none of them');
  assert.deepEqual(await pings(VIP_ALL, EXTRA.tcp, 3), { rs1: 1, rs2: 1, rs3: 1 }, 'other ports still go to port all');
});

test('also: a second VIP in the same service shares its reals and its scheduler', async () => {
  const before = await newFlows(VIP_ALL, 0);
  const dropsBefore = await xlvsd.api.drops();
  const spread = await http(VIP_ALSO, 80, 30);
  const after = await newFlows(VIP_ALL, 0);
  const picks = Object.fromEntries(NAMES.map((n) => [n, Number(after[n]! - before[n]!)]));
  const drops = Object.entries(await xlvsd.api.drops()).filter(([k, v]) => v !== dropsBefore[k]);
  assert.deepEqual(spread, { rs1: 10, rs2: 10, rs3: 10 }, `new flows scheduled ${JSON.stringify(picks)}, drops changed ${drops}`);
  assert.deepEqual(picks, { rs1: 10, rs2: 10, rs3: 10 }, 'one scheduling decision per connection');
  const list = await xlvsd.api.listServices();
  assert.equal(service(list, VIP_ALSO, 80), service(list, VIP_ALL, 0), 'one service for both VIPs');
  // One rr cursor for the whole service: alternating VIPs still walks the reals in turn.
  const seq: string[] = [];
  for (let i = 0; i < 6; i++) seq.push(only(await http(i % 2 ? VIP_ALL : VIP_ALSO, i % 2 ? EXTRA.http : 80, 1), `request ${i}`));
  for (let i = 1; i < seq.length; i++) assert.equal(seq[i], succ(seq[i - 1]!), `rr order across both VIPs: ${seq}`);
});
