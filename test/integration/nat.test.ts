// SPDX-License-Identifier: Apache-2.0
// NAT mode end to end: real TCP/UDP traffic from the client namespace through
// xlvsd's XDP programs in the router namespace to three real servers.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, REAL_HTTP_PORT_2 } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import type { ServiceStatus } from '../../src/model/types.js';

const VIP = '203.0.113.100';

function config(w: [number, number, number] = [3, 1, 1], extra = ''): string {
  const reals = (port: number, weights?: number[]) =>
    [11, 12, 13].map((h, i) => `      - { address: 10.77.0.${h}, port: ${port}${weights ? `, weight: ${weights[i]}` : ''} }`).join('\n');
  return `interfaces: { public: pub0, private: priv0 }
services:
  - { vip: ${VIP}, port: 80, protocol: tcp, scheduler: rr, reals: [] }
  - vip: ${VIP}
    port: 81
    scheduler: wrr
    reals:
${reals(REAL_HTTP_PORT_2, w)}
  - vip: ${VIP}
    port: 9000
    scheduler: rr
    reals:
${reals(9000)}
  - vip: ${VIP}
    port: 5353
    protocol: udp
    scheduler: rr
    reals:
${reals(5353)}
${extra}`.replace('reals: [] }', `reals: [${[11, 12, 13].map((h) => `{ address: 10.77.0.${h} }`).join(', ')}] }`);
}

let lab: Lab;
let xlvsd: XlvsdProcess;

before(async () => {
  lab = await Lab.create();
  await lab.startRealServers();
  xlvsd = await XlvsdProcess.start(lab, { config: config() });
});

after(async () => {
  await xlvsd?.destroy().catch((e) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

const http = (port: number, count: number) =>
  lab.client('http', ['--host', VIP, '--port', String(port), '--count', String(count)]);

function svc(list: ServiceStatus[], port: number, protocol = 'tcp'): ServiceStatus {
  const s = list.find((x) => x.port === port && x.protocol === protocol);
  assert.ok(s, `service ${protocol}/${port} listed`);
  return s;
}

test('300 new connections spread round-robin exactly over three reals', async () => {
  const r = await http(80, 300);
  assert.deepEqual(r, { counts: { rs1: 100, rs2: 100, rs3: 100 }, errors: 0, errorSamples: [] });
  const s = svc(await xlvsd.api.listServices(), 80);
  assert.equal(s.counters.conns, 300n);
  for (const real of s.reals) assert.equal(real.counters.conns, 100n);
  assert.ok(s.counters.packets_in >= 300n * 4n, 'every packet of 300 connections counted in');
  assert.ok(s.counters.packets_out >= 300n * 3n, 'replies counted out');
});

test('weighted round robin 3:1:1 spreads exactly 3:1:1', async () => {
  const r = await http(81, 250);
  assert.deepEqual(r.counts, { rs1: 150, rs2: 50, rs3: 50 });
  assert.equal(r.errors, 0);
});

test('one TCP connection stays on one real; replies come from the VIP; 5 MB arrives intact', async () => {
  const hold = lab.hold({ host: VIP, port: 9000, intervalMs: 20, durationMs: 1000 });
  const end = await hold.result;
  assert.ok('done' in end, JSON.stringify(end));
  assert.ok(hold.replies.length >= 20, `got ${hold.replies.length} replies`);
  assert.equal(new Set(hold.replies.map((x) => x.reply)).size, 1, 'all replies from one real');

  const bulk = await lab.client('bulk', ['--host', VIP, '--port', '9000', '--bytes', String(5_000_000)]);
  assert.equal(bulk.peer, VIP, 'client talks to the VIP, not to the real');
  assert.equal(bulk.bytes, 5_000_000);
  assert.equal(bulk.sha256, bulk.expected_sha256);
});

test('UDP request/response through the VIP', async () => {
  const r = await lab.client('udp', ['--host', VIP, '--port', '5353', '--count', '30']);
  assert.deepEqual(r.counts, { rs1: 10, rs2: 10, rs3: 10 });
  assert.equal(r.errors, 0);
  const s = svc(await xlvsd.api.listServices(), 5353, 'udp');
  assert.ok(s.counters.conns >= 30n);
});

test('traffic that is not for a VIP passes through the router untouched', async () => {
  const before = svc(await xlvsd.api.listServices(), 80).counters;
  const dropsBefore = await xlvsd.api.drops();
  // Routed by the kernel: the client reaches a real server's own address directly.
  const r = await lab.client('http', ['--host', '10.77.0.12', '--port', '80', '--count', '5']);
  assert.deepEqual(r.counts, { rs2: 5 });
  const after = svc(await xlvsd.api.listServices(), 80).counters;
  assert.deepEqual(after, before, 'xlvs counted none of it');
  assert.deepEqual(await xlvsd.api.drops(), dropsBefore, 'and dropped none of it');
});

test('weight 0 stops new connections to a real while its open connection keeps working', async () => {
  const hold = lab.hold({ host: VIP, port: 9000, intervalMs: 50, durationMs: 4000 });
  const [first] = await hold.waitForReplies(1, 5000);
  const target = first!.reply; // rsN
  const addr = `10.77.0.${10 + Number(target.slice(2))}`;
  await xlvsd.api.addReal({ vip: VIP, port: 9000, protocol: 'tcp' }, { address: addr, port: 9000, weight: 0, method: 'nat', upper_threshold: 0, lower_threshold: 0 });
  const list = await xlvsd.api.listServices();
  assert.equal(svc(list, 9000).reals.find((r) => r.address === addr)!.weight, 0);

  // New connections: six short sessions, none may land on the quiesced real.
  const seen: string[] = [];
  for (let i = 0; i < 6; i++) {
    const h = lab.hold({ host: VIP, port: 9000, intervalMs: 50, durationMs: 120 });
    await h.result;
    seen.push(...new Set(h.replies.map((x) => x.reply)));
  }
  assert.equal(seen.length, 6);
  assert.ok(!seen.includes(target), `${target} got a new connection: ${seen}`);

  const end = await hold.result;
  assert.ok('done' in end, JSON.stringify(end));
  assert.ok(hold.replies.length >= 40, `long connection kept answering (${hold.replies.length})`);
  assert.ok(hold.replies.every((x) => x.reply === target));
  await xlvsd.api.addReal({ vip: VIP, port: 9000, protocol: 'tcp' }, { address: addr, port: 9000, weight: 1, method: 'nat', upper_threshold: 0, lower_threshold: 0 });
});

test('a long-lived connection survives kill -9 of the daemon and its restart; counters continue', async () => {
  const before = svc(await xlvsd.api.listServices(), 9000).counters;
  const hold = lab.hold({ host: VIP, port: 9000, intervalMs: 50, durationMs: 5000 });
  await hold.waitForReplies(5, 5000);
  await xlvsd.kill9();
  const atKill = hold.replies.length;
  await hold.waitForReplies(atKill + 10, 5000); // forwarding with no daemon at all
  await xlvsd.launch();
  const end = await hold.result;
  assert.ok('done' in end, JSON.stringify(end));
  assert.equal(end.received, end.sent, 'no PING lost');
  assert.equal(new Set(hold.replies.map((x) => x.reply)).size, 1);
  const after = svc(await xlvsd.api.listServices(), 9000).counters;
  assert.ok(after.packets_in > before.packets_in + BigInt(hold.replies.length), 'counters kept counting across the restart');
  assert.ok(after.conns >= before.conns + 1n);
  assert.match(xlvsd.output, /adopted data-plane state/);
  // And new connections work with the restarted daemon.
  assert.equal((await http(80, 3)).errors, 0);
});

test('a config with an error is rejected with file:line:column and the running state is kept', async () => {
  const good = config();
  const cases: [string, RegExp][] = [
    [good.replace('address: 10.77.0.12, port: 80', 'address: 10.77.0.300, port: 80'), /xlvs\.yaml:\d+:\d+: services\[1\]\.reals\[1\]\.address/],
    [good.replace('scheduler: wrr', 'scheduler: wrr\n    colour: blue'), /xlvs\.yaml:\d+:\d+: services\[1\]\.colour: unknown field/],
    [good.replace('port: 9000\n', 'port: 70000\n'), /xlvs\.yaml:\d+:\d+: services\[2\]\.port: .*70000/],
    // Valid YAML, but more reals than a service may have (256, the size of its scheduling ring).
    [good + `  - vip: ${VIP}\n    port: 90\n    reals:\n${Array.from({ length: 257 }, (_, i) => `      - { address: 10.78.${i >> 8}.${i & 255} }`).join('\n')}\n`, /xlvs\.yaml:\d+:\d+: services\[4\]\.reals\[256\]: too many reals: a service has at most 256.*"code":"E_CONFIG"/],
  ];
  const before = await xlvsd.api.listServices();
  for (const [bad, expected] of cases) {
    xlvsd.writeConfig(bad);
    const mark = xlvsd.output.length;
    xlvsd.reload();
    const deadline = Date.now() + 5000;
    while (!/config rejected/.test(xlvsd.output.slice(mark)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const out = xlvsd.output.slice(mark);
    assert.match(out, /config rejected; keeping the running state/);
    assert.match(out, expected);
    const now = await xlvsd.api.listServices();
    assert.deepEqual(now.map((s) => [s.port, s.reals.map((r) => [r.address, r.weight])]), before.map((s) => [s.port, s.reals.map((r) => [r.address, r.weight])]));
  }
  assert.deepEqual((await http(80, 3)).counts, { rs1: 1, rs2: 1, rs3: 1 });
  // A good config is taken again.
  xlvsd.writeConfig(config([1, 1, 1]));
  const mark = xlvsd.output.length;
  xlvsd.reload();
  const deadline = Date.now() + 5000;
  while (!/config reloaded/.test(xlvsd.output.slice(mark)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(svc(await xlvsd.api.listServices(), 81).reals.map((r) => r.weight), [1, 1, 1]);
});
