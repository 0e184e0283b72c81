// SPDX-License-Identifier: Apache-2.0
// Per-real connection counts and thresholds end to end, read over gRPC as `xlvsctl list` shows
// them: long-held TCP connections are active while open, inactive once the client sends FIN,
// gone after tcp_fin and a reap; UDP flows are inactive and expire; the counts stay exact across
// daemon restarts (stop and kill -9). A real with upper_threshold 5 / lower_threshold 2 takes no
// new connection from its fifth until it is below two again.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, type HoldSession } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';

const VIP = '203.0.113.100';
const FIN_S = 2;
const REAP_MS = 200;
const REALS = (port: number) => `[${[11, 12, 13].map((h) => `{ address: 10.77.0.${h}, port: ${port} }`).join(', ')}]`;
const config = (finS: number) => `interfaces: { public: pub0, private: priv0 }
timeouts: { tcp: 900, tcp_fin: ${finS}, tcp_close: ${finS}, udp: ${FIN_S} }
services:
  - { vip: ${VIP}, port: 9000, scheduler: rr, reals: ${REALS(9000)} }
  - { vip: ${VIP}, port: 5353, protocol: udp, scheduler: rr, reals: ${REALS(5353)} }
  - vip: ${VIP}
    port: 9001
    scheduler: rr
    reals:
      - { address: 10.77.0.11, port: 9000, upper_threshold: 5, lower_threshold: 2 }
      - { address: 10.77.0.12, port: 9000 }
      - { address: 10.77.0.13, port: 9000 }
`;
const NAMES = ['rs1', 'rs2', 'rs3'] as const;
type Counts = Record<string, [active: number, inactive: number]>;

let lab: Lab;
let xlvsd: XlvsdProcess;

before(async () => {
  lab = await Lab.create();
  await lab.startRealServers();
  xlvsd = await XlvsdProcess.start(lab, { config: config(FIN_S), extraArgs: ['--reap-interval-ms', String(REAP_MS)] });
});

after(async () => {
  await xlvsd?.destroy().catch((e) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** [active, inactive] of every real of the service on `port`, by real name, from ListServices. */
async function conns(port: number, protocol = 'tcp'): Promise<Counts> {
  const s = (await xlvsd.api.listServices()).find((x) => x.port === port && x.protocol === protocol);
  assert.ok(s, `service ${protocol}/${port} listed`);
  return Object.fromEntries(s.reals.map((r) => [`rs${Number(r.address.split('.')[3]) - 10}`, [r.active_conns, r.inactive_conns]]));
}

const all = (active: number, inactive: number): Counts => Object.fromEntries(NAMES.map((n) => [n, [active, inactive]]));

/** Polls until the counts of the reals named in `want` equal it; fails with the last seen after `ms`. */
async function countsBecome(port: number, want: Counts, ms: number, protocol = 'tcp'): Promise<void> {
  const deadline = Date.now() + ms;
  const pick = async (): Promise<Counts> => {
    const c = await conns(port, protocol);
    return Object.fromEntries(Object.keys(want).map((n) => [n, c[n]!]));
  };
  let seen = await pick();
  while (JSON.stringify(seen) !== JSON.stringify(want)) {
    if (Date.now() > deadline) assert.deepEqual(seen, want, `counts of ${protocol}/${port} after ${ms} ms`);
    await sleep(50);
    seen = await pick();
  }
}

interface Held {
  real: string;
  session: HoldSession;
}

/** A long-held connection (PING every 200 ms) once its first reply came back. */
async function open(port: number): Promise<Held> {
  const session = lab.hold({ host: VIP, port, intervalMs: 200, durationMs: 120_000 });
  const [first] = await session.waitForReplies(1, 5000);
  return { real: first!.reply, session };
}

/** Ends held connections from the client side (FIN). */
async function close(held: Held[]): Promise<void> {
  for (const h of held) {
    const end = await h.session.stop();
    assert.ok('done' in end, `held connection to ${h.real} ended cleanly: ${JSON.stringify(end)}`);
  }
}

/** The expected counts: open connections are active, closed ones inactive. */
function expected(open: Held[], closed: Held[]): Counts {
  const c = all(0, 0);
  for (const h of open) c[h.real]![0]++;
  for (const h of closed) c[h.real]![1]++;
  return c;
}

/** n short connections (one PING) in parallel; how many went to each real. */
async function pings(port: number, n: number): Promise<Record<string, number>> {
  const sessions = Array.from({ length: n }, () => lab.hold({ host: VIP, port, intervalMs: 50, durationMs: 200 }));
  const counts: Record<string, number> = {};
  for (const s of sessions) {
    const end = await s.result;
    assert.ok('done' in end && s.replies.length > 0, `short connection: ${JSON.stringify(end)}`);
    counts[s.replies[0]!.reply] = (counts[s.replies[0]!.reply] ?? 0) + 1;
  }
  return counts;
}

test('TCP: held connections are active; the client\'s FIN makes them inactive; tcp_fin and a reap later they are gone', async () => {
  assert.deepEqual(await conns(9000), all(0, 0));
  const held: Held[] = [];
  for (let i = 0; i < 6; i++) held.push(await open(9000));
  assert.deepEqual(expected(held, []), all(2, 0), `rr spread the six: ${held.map((h) => h.real)}`);
  assert.deepEqual(await conns(9000), all(2, 0), 'two active per real while open');

  const first = held.slice(0, 3); // one per real
  await close(first);
  const closedAt = Date.now();
  await countsBecome(9000, all(1, 1), 500);
  await sleep(closedAt + 1000 - Date.now());
  assert.deepEqual(await conns(9000), all(1, 1), `still inactive ${Date.now() - closedAt} ms after FIN (tcp_fin is ${FIN_S} s)`);
  await countsBecome(9000, all(1, 0), closedAt + FIN_S * 1000 + 1500 - Date.now());
  const goneAfter = Date.now() - closedAt;
  assert.ok(goneAfter >= FIN_S * 1000 - 100, `counted down after tcp_fin, not before (${goneAfter} ms)`);

  await close(held.slice(3));
  await countsBecome(9000, all(0, 1), 500);
  await countsBecome(9000, all(0, 0), FIN_S * 1000 + 1500);
});

test('UDP: each flow counts inactive and is counted down when it expires', async () => {
  const r = await lab.client('udp', ['--host', VIP, '--port', '5353', '--count', '6']);
  assert.deepEqual(r.counts, { rs1: 2, rs2: 2, rs3: 2 });
  const sentAt = Date.now();
  assert.deepEqual(await conns(5353, 'udp'), all(0, 2));
  await countsBecome(5353, all(0, 0), FIN_S * 1000 + 1500, 'udp');
  assert.ok(Date.now() - sentAt >= FIN_S * 1000 - 500, 'not before the udp timeout');
});

test('thresholds: a real at its upper threshold gets no new connection until it is below the lower one', async () => {
  const held: Held[] = [];
  const onRs1 = () => held.filter((h) => h.real === 'rs1');
  for (let i = 0; i < 20 && onRs1().length < 5; i++) held.push(await open(9001));
  assert.equal(onRs1().length, 5, `rs1 reached its upper threshold: ${held.map((h) => h.real)}`);
  assert.deepEqual(await conns(9001), expected(held, []));

  assert.deepEqual(await pings(9001, 6), { rs2: 3, rs3: 3 }, 'at 5 connections rs1 gets none; the others share them');

  // Two closed: 3 active + 2 inactive is still 5; after they expire, 3 is below upper (5) but not
  // below lower (2): still no new connection.
  const [a, b, c, d] = onRs1();
  await close([a!, b!]);
  await countsBecome(9001, { rs1: [3, 0] }, FIN_S * 1000 + 1500);
  assert.deepEqual(await pings(9001, 4), { rs2: 2, rs3: 2 }, 'between the thresholds rs1 stays out');

  await close([c!, d!]);
  await countsBecome(9001, { rs1: [1, 0] }, FIN_S * 1000 + 1500);
  assert.deepEqual(await pings(9001, 3), { rs1: 1, rs2: 1, rs3: 1 }, 'below the lower threshold rs1 takes new connections again');
  await close(held.filter((h) => h !== a && h !== b && h !== c && h !== d));
});

test('counts stay exact across a daemon restart and a kill -9, with connections opened and closed while it is down', async () => {
  // Longer tcp_fin so that nothing closed here expires during the restarts: every count is exact.
  const mark = xlvsd.output.length;
  xlvsd.writeConfig(config(60));
  xlvsd.reload();
  const deadline = Date.now() + 5000;
  while (!/config reloaded/.test(xlvsd.output.slice(mark)) && Date.now() < deadline) await sleep(50);
  assert.match(xlvsd.output.slice(mark), /config reloaded/);
  await countsBecome(9000, all(0, 0), FIN_S * 1000 + 1500);

  const open9000: Held[] = [];
  const closed: Held[] = [];
  for (let i = 0; i < 3; i++) open9000.push(await open(9000));
  assert.deepEqual(await conns(9000), expected(open9000, closed));

  await xlvsd.stop();
  for (let i = 0; i < 2; i++) open9000.push(await open(9000));
  const c1 = open9000.shift()!;
  await close([c1]);
  closed.push(c1);
  await xlvsd.launch();
  assert.deepEqual(await conns(9000), expected(open9000, closed), 'after stop + launch');

  await xlvsd.kill9();
  open9000.push(await open(9000));
  const c2 = open9000.shift()!;
  await close([c2]);
  closed.push(c2);
  await xlvsd.launch();
  assert.deepEqual(await conns(9000), expected(open9000, closed), 'after kill -9 + launch');

  // And the restarted daemon's data plane keeps counting.
  open9000.push(await open(9000));
  assert.deepEqual(await conns(9000), expected(open9000, closed), 'a new connection after the restarts');
  await close(open9000);
  closed.push(...open9000.splice(0));
  await countsBecome(9000, expected([], closed), 1000);
  assert.equal(closed.length, 7, '3 + 2 opened around the stop, 1 around the kill, 1 after');
});
