// SPDX-License-Identifier: Apache-2.0
// Health checks end to end (issue 5): a real xlvsd in the namespace lab checks real servers that
// the test really stops and starts, and real client connections show where new flows go:
// detection within interval × fall + timeout, quiesce keeping an open connection, return after
// `rise` with slow start, the sorry server, and health kept over a daemon restart.
// The tests share one lab and one daemon and run in order, each starting from the last one's end.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab, REAL_HTTP_PORT_2, type Tally } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { CheckTarget } from '../../lab/check-target.js';
import type { HealthEvent, TargetStatus } from '../../src/health/report.js';
import type { RealStatus, ServiceStatus } from '../../src/model/types.js';

const VIP = '203.0.113.100';
const RS = ['10.77.0.11', '10.77.0.12', '10.77.0.13'];
const WEB = 'tcp/203.0.113.100:80';
const LINE = 'tcp/203.0.113.100:9000';
const CHECK_PORT = 7070;
// jitter 0: probes exactly `interval` apart, so the rise assertion below is exact.
const INTERVAL = 200, TIMEOUT = 150, RISE = 2, FALL = 2;
const TIMING = `interval_ms: ${INTERVAL}, timeout_ms: ${TIMEOUT}, rise: ${RISE}, fall: ${FALL}, jitter: 0, initial: up`;
const SLOW_START_MS = 3000;
const WEIGHT = 10;
/** From a failure to the data plane programmed: one setImmediate, a map write; generous for a loaded 2-CPU VM. */
const APPLY_SLACK_MS = 300;
const DETECT_BUDGET_MS = INTERVAL * FALL + TIMEOUT;

// `initial: up`: without the saved state a restarted daemon would trust a dead real again (test 7).
const CONFIG = `interfaces: { public: pub0, private: priv0 }
services:
  - vip: ${VIP}
    port: 80
    scheduler: wrr
    check: { type: http, ${TIMING}, slow_start_ms: ${SLOW_START_MS} }
    sorry_server: { address: ${RS[2]}, port: ${REAL_HTTP_PORT_2} }
    reals:
      - { address: ${RS[0]}, weight: ${WEIGHT} }
      - { address: ${RS[1]}, weight: ${WEIGHT} }
  - vip: ${VIP}
    port: 9000
    scheduler: rr
    check: { type: tcp, port: ${CHECK_PORT}, ${TIMING} }
    reals: [{ address: ${RS[1]} }, { address: ${RS[2]} }]
`;

let lab: Lab;
let xlvsd: XlvsdProcess;
let watch: Watch;
const checkTargets: CheckTarget[] = [];

/** Every WatchHealth event since the watch began, with the time it arrived here. */
class Watch {
  readonly seen: HealthEvent[] = [];
  readonly errors: Error[] = [];
  private readonly cancel: () => void;
  constructor(x: XlvsdProcess) {
    this.cancel = x.api.watchHealth((e) => this.seen.push(e), (err) => this.errors.push(err));
  }
  of(service: string, real: string, from = 0): HealthEvent[] {
    return this.seen.slice(from).filter((e) => e.service === service && e.real === real);
  }
  /** The first event for (service, real) at index >= from going `to`; bounded. */
  async waitFor(service: string, real: string, to: 'up' | 'down', from: number, timeoutMs = 3000): Promise<HealthEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.of(service, real, from).find((x) => x.to === to);
      if (e) return e;
      if (Date.now() > deadline) throw new Error(`no ${to} event for ${real} of ${service} within ${timeoutMs} ms; seen: ${JSON.stringify(this.seen.slice(from))}`);
      await sleep(10);
    }
  }
  stop(): void {
    this.cancel();
  }
}

before(async () => {
  lab = await Lab.create();
  await lab.startRealServers();
  for (const ns of lab.ns.reals) checkTargets.push(await CheckTarget.start(lab, ns, { tcp: CHECK_PORT, mode: { tcp: 'OK' } }));
  xlvsd = await XlvsdProcess.start(lab, { config: CONFIG, readyTimeoutMs: 60_000 });
  watch = new Watch(xlvsd);
  await sleep(100); // the watch stream reaches the daemon
});

after(async () => {
  watch?.stop();
  await Promise.all([...loops].map((stop) => stop())); // a failed test may have left one running
  for (const t of checkTargets) await t.destroy().catch((e: unknown) => console.error('check target teardown failed', e));
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

const rid = (i: number, port: number): string => `${RS[i]}:${port}`;

function http(count: number, extra: string[] = []): Promise<Tally> {
  return lab.client('http', ['--host', VIP, '--port', '80', '--count', String(count), '--request-timeout-ms', '1000', '--timeout-ms', '5000', ...extra]);
}

async function service(id: string): Promise<ServiceStatus> {
  const s = (await xlvsd.api.listServices()).find((x) => `${x.protocol}/${x.vip}:${x.port}` === id);
  assert.ok(s, `service ${id} listed`);
  return s;
}

async function real(id: string, address: string, sorry = false): Promise<RealStatus> {
  const r = (await service(id)).reals.find((x) => x.address === address && x.sorry === sorry);
  assert.ok(r, `real ${address} (sorry ${sorry}) of ${id} listed`);
  return r;
}

async function check(id: string, realId: string): Promise<TargetStatus> {
  const c = (await xlvsd.api.listHealth()).checks.find((x) => x.service === id && x.real === realId);
  assert.ok(c, `check of ${realId} in ${id} listed`);
  return c;
}

interface Batch { start: number; end: number; r: Tally }
const loops = new Set<() => Promise<Batch[]>>();

/**
 * http batches back to back until stop(); every batch is bounded by the client's own timeouts. A
 * client that could not run at all is recorded as a failed batch, so the assertions see it.
 */
function trafficLoop(): { stop: () => Promise<Batch[]> } {
  const batches: Batch[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const start = Date.now();
      const r = await http(6, ['--concurrency', '2']).catch((err: unknown): Tally => ({ counts: {}, errors: 6, errorSamples: [String(err)] }));
      batches.push({ start, end: Date.now(), r });
    }
  })();
  const stop = async (): Promise<Batch[]> => {
    running = false;
    await loop;
    loops.delete(stop);
    return batches;
  };
  loops.add(stop);
  return { stop };
}

test('a killed real is down within interval × fall + timeout, and gets no new connection after', async () => {
  assert.equal((await check(WEB, rid(0, 80))).status, 'up');
  const base = await http(20);
  assert.deepEqual(base, { counts: { rs1: 10, rs2: 10 }, errors: 0, errorSamples: [] });

  const mark = watch.seen.length;
  const traffic = trafficLoop();
  await sleep(300);
  const t0 = Date.now();
  await lab.stopRealServer(0);
  const killed = Date.now(); // the process has exited: its ports are closed
  const ev = await watch.waitFor(WEB, rid(0, 80), 'down', mark);
  const deadline = killed + DETECT_BUDGET_MS + APPLY_SLACK_MS;
  await sleep(deadline - Date.now());
  const connsAtDeadline = (await real(WEB, RS[0])).counters.conns;
  await sleep(1000);
  const batches = await traffic.stop();
  const connsAfter = (await real(WEB, RS[0])).counters.conns;

  const detection = ev.at - killed;
  console.log(`detection: down event ${detection} ms after the server exited (stop took ${killed - t0} ms); budget ${DETECT_BUDGET_MS} ms + ${APPLY_SLACK_MS} ms apply slack`);
  assert.ok(detection >= 0 && detection <= DETECT_BUDGET_MS, `down after ${detection} ms`);
  assert.match(ev.reason, /ECONNREFUSED/);
  assert.equal(ev.from, 'up');
  assert.equal(connsAfter, connsAtDeadline, 'no new connection reached rs1 after the deadline');
  const late = batches.filter((b) => b.start >= deadline);
  assert.ok(late.length >= 2, `traffic kept running after the deadline (${late.length} batches)`);
  for (const b of late) assert.deepEqual(b.r, { counts: { rs2: 6 }, errors: 0, errorSamples: [] }, `batch at +${b.start - killed} ms`);

  const c = await check(WEB, rid(0, 80));
  assert.equal(c.status, 'down');
  assert.equal(c.last?.reason, 'connect ECONNREFUSED');
  assert.deepEqual(watch.of(WEB, rid(0, 80), mark).map((e) => [e.from, e.to]), [['up', 'down']], 'exactly one transition');
  const r1 = await real(WEB, RS[0]);
  assert.deepEqual([r1.weight, r1.effective_weight, r1.health], [WEIGHT, 0, 'down']);
  const r2 = await real(WEB, RS[1]);
  assert.deepEqual([r2.weight, r2.effective_weight, r2.health], [WEIGHT, WEIGHT, 'up']);
});

test('quiesce: a failed check through a separate port keeps the open connection, new ones avoid the real', async () => {
  const hold = lab.hold({ host: VIP, port: 9000, intervalMs: 50, durationMs: 3000 });
  const [first] = await hold.waitForReplies(1, 5000);
  const i = Number(first!.reply.slice(2)) - 1; // rsN
  const target = rid(i, 9000);
  const mark = watch.seen.length;
  await checkTargets[i]!.stop();
  const killed = Date.now();
  const ev = await watch.waitFor(LINE, target, 'down', mark);
  const repliesAtDown = hold.replies.length;
  console.log(`quiesce: ${first!.reply} down ${ev.at - killed} ms after its check port closed (${ev.reason})`);
  assert.ok(ev.at - killed <= DETECT_BUDGET_MS, `down after ${ev.at - killed} ms`);
  assert.match(ev.reason, /ECONNREFUSED/);
  await sleep(APPLY_SLACK_MS);

  const connsBefore = (await real(LINE, RS[i]!)).counters.conns;
  const fresh = await Promise.all(Array.from({ length: 6 }, () => lab.hold({ host: VIP, port: 9000, intervalMs: 50, durationMs: 400 })).map(async (h) => {
    const end = await h.result;
    assert.ok('done' in end, JSON.stringify(end));
    return [...new Set(h.replies.map((x) => x.reply))];
  }));
  assert.equal(fresh.flat().length, 6, `each new connection answered by one real: ${JSON.stringify(fresh)}`);
  assert.ok(!fresh.flat().includes(first!.reply), `${first!.reply} got a new connection: ${JSON.stringify(fresh)}`);
  assert.equal((await real(LINE, RS[i]!)).counters.conns, connsBefore);
  const q = await real(LINE, RS[i]!);
  assert.deepEqual([q.weight, q.effective_weight, q.health], [1, 0, 'down']);

  const end = await hold.result;
  assert.ok('done' in end, JSON.stringify(end));
  assert.equal(end.received, end.sent, 'no PING of the held connection lost');
  assert.ok(hold.replies.every((x) => x.reply === first!.reply), 'the held connection stayed on its real');
  assert.ok(hold.replies.length - repliesAtDown >= 20, `the held connection kept answering after the real went down (${hold.replies.length - repliesAtDown} replies)`);
  assert.ok(hold.replies.at(-1)!.t >= 2700, `replies until the end of the session (last at ${hold.replies.at(-1)!.t} ms)`);

  // Back to healthy for the tests that follow.
  const mark2 = watch.seen.length;
  await checkTargets[i]!.restart();
  await watch.waitFor(LINE, target, 'up', mark2);
});

test('a restarted real is up after `rise` successes, not before, then ramps up over slow start', async () => {
  const mark = watch.seen.length;
  const polls: Array<{ t: number; status: string; successes: number; ok: boolean | undefined }> = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const c = await check(WEB, rid(0, 80));
      polls.push({ t: Date.now(), status: c.status, successes: c.successes, ok: c.last?.ok });
      await sleep(20);
    }
  })();
  const started = Date.now(); // the server binds after this
  await lab.startRealServer(0);
  const ev = await watch.waitFor(WEB, rid(0, 80), 'up', mark);
  polling = false;
  await poller;
  const sinceStart = ev.at - started;
  console.log(`rise: up ${sinceStart} ms after the restart began (>= ${(RISE - 1) * INTERVAL} required)`);
  assert.ok(sinceStart >= (RISE - 1) * INTERVAL, `up after ${sinceStart} ms`);
  assert.ok(polls.some((p) => p.status === 'down' && p.ok === true && p.successes === RISE - 1), `seen passing but still down: ${JSON.stringify(polls.slice(-15))}`);
  assert.deepEqual(watch.of(WEB, rid(0, 80), mark).map((e) => [e.from, e.to]), [['down', 'up']]);

  // Slow start reaches the data plane: a small share first.
  const ramp = await http(22);
  assert.equal(ramp.errors, 0, JSON.stringify(ramp));
  assert.ok((ramp.counts.rs1 ?? 0) >= 1 && (ramp.counts.rs1 ?? 0) < (ramp.counts.rs2 ?? 0), `rs1 ramping: ${JSON.stringify(ramp.counts)}`);

  const weights: Array<{ t: number; w: number }> = [];
  const until = ev.at + SLOW_START_MS + 2000;
  while (Date.now() < until) {
    const r = await real(WEB, RS[0]);
    weights.push({ t: Date.now() - ev.at, w: r.effective_weight });
    assert.equal(r.weight, WEIGHT, 'configured weight unchanged');
    if (r.effective_weight === WEIGHT) break;
    await sleep(50);
  }
  const full = weights.find((x) => x.w === WEIGHT);
  console.log(`slow start: effective weights ${JSON.stringify([...new Set(weights.map((x) => x.w))])}, ${WEIGHT} at +${full?.t} ms`);
  assert.ok(weights[0]!.w < WEIGHT, `first effective weight ${weights[0]!.w}`);
  assert.ok(weights.every((x, k) => k === 0 || x.w >= weights[k - 1]!.w), 'never decreasing');
  assert.ok(full, `reached ${WEIGHT}: ${JSON.stringify(weights.slice(-5))}`);
  assert.ok(full.t >= SLOW_START_MS - 100 && full.t <= SLOW_START_MS + 500 + APPLY_SLACK_MS, `full weight at +${full.t} ms`);
  assert.deepEqual(await http(20), { counts: { rs1: 10, rs2: 10 }, errors: 0, errorSamples: [] });
});

test('all reals down: the sorry server takes new connections; one real back and it gets none', async () => {
  const mark = watch.seen.length;
  await Promise.all([lab.stopRealServer(0), lab.stopRealServer(1)]);
  await Promise.all([watch.waitFor(WEB, rid(0, 80), 'down', mark), watch.waitFor(WEB, rid(1, 80), 'down', mark)]);
  await sleep(APPLY_SLACK_MS);
  const health = async () => (await xlvsd.api.listHealth()).services.find((s) => s.service === WEB)?.health;
  assert.deepEqual(await health(), { healthyWeight: 0, quorum: 1, sorryActive: true });
  assert.deepEqual(await http(10), { counts: { rs3: 10 }, errors: 0, errorSamples: [] });
  const sorry = await real(WEB, RS[2]!, true);
  assert.equal(sorry.port, REAL_HTTP_PORT_2);
  assert.ok(sorry.effective_weight >= 1);
  assert.equal(sorry.counters.conns, 10n);

  const mark2 = watch.seen.length;
  const started = Date.now();
  await lab.startRealServer(0);
  const ev = await watch.waitFor(WEB, rid(0, 80), 'up', mark2);
  console.log(`sorry: rs1 up ${ev.at - started} ms after its restart began`);
  await sleep(APPLY_SLACK_MS);
  assert.deepEqual(await health(), { healthyWeight: WEIGHT, quorum: 1, sorryActive: false });
  assert.deepEqual(await http(10), { counts: { rs1: 10 }, errors: 0, errorSamples: [] });
  const after = await real(WEB, RS[2]!, true);
  assert.equal(after.counters.conns, 10n, 'the sorry server got no new connection');
  assert.equal(after.effective_weight, 0);
});

test('a restarted daemon keeps a down real down from its first moment', async () => {
  // From the last test: rs2 (10.77.0.12) is down, its server stopped; rs1 is up.
  assert.equal((await check(WEB, rid(1, 80))).status, 'down');
  const conns0 = (await real(WEB, RS[1])).counters.conns;
  watch.stop();
  // Two loops, so connections start all through the restart and the first 200 ms after it.
  const traffic = [trafficLoop(), trafficLoop()];
  await sleep(300);
  await xlvsd.stop();
  const mark = xlvsd.output.length;
  await xlvsd.launch(); // same state dir, same pinned maps
  const ready = Date.now();
  const first = await check(WEB, rid(1, 80));
  const firstAt = Date.now() - ready;
  await sleep(1000);
  const batches = (await Promise.all(traffic.map((t) => t.stop()))).flat();
  const conns1 = (await real(WEB, RS[1])).counters.conns;

  // The new daemon's first write to the maps, by its own log: where a wrong state would begin.
  const lines = xlvsd.output.slice(mark).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { time: number; msg: string });
  const adopted = lines.findIndex((l) => l.msg === 'adopted data-plane state');
  assert.ok(adopted >= 0, 'the restarted daemon adopted the pinned data plane');
  const applied = lines.slice(adopted).find((l) => l.msg === 'data plane reconciled')?.time;
  assert.ok(applied !== undefined, 'and reconciled it');
  console.log(`restart: maps written ${ready - applied} ms before the API answered; first ListHealth ${firstAt} ms after the API answered: ${first.status}, probes ${first.counters.probes_ok}/${first.counters.probes_failed}`);
  assert.equal(first.status, 'down', 'down from the start (saved state), not `initial: up`');
  const r2 = await real(WEB, RS[1]);
  assert.deepEqual([r2.effective_weight, r2.health], [0, 'down']);
  assert.equal(conns1, conns0, 'rs2 got no new connection across the restart');
  const window = batches.filter((b) => b.start <= applied + 200 && b.end >= applied);
  assert.ok(window.length >= 2, `traffic ran in the first 200 ms after the maps were written (${batches.map((b) => `${b.start - applied}..${b.end - applied}`).join(', ')})`);
  for (const b of batches) assert.deepEqual(b.r, { counts: { rs1: 6 }, errors: 0, errorSamples: [] }, `batch at ${b.start - applied} ms`);
});
