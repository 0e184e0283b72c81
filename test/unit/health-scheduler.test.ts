// SPDX-License-Identifier: Apache-2.0
// The check scheduler (src/health/scheduler.ts) on a fake clock: intervals, seeded jitter, one
// probe per target, deadlines through AbortSignal, the global cap, hung probes, start/stop.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors.js';
import { DEADLINE_GRACE_MS, CheckScheduler, type Probe, type TimerClock } from '../../src/health/scheduler.js';
import type { Transition } from '../../src/health/state.js';
import { validateCheckOptions, type ProbeResult } from '../../src/health/types.js';

/** Time moves only when a test advances it; timers fire in due order, ties in creation order. */
class FakeClock implements TimerClock {
  t = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; seq: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, seq: id, fn });
    return id;
  }
  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  get pending(): number {
    return this.timers.size;
  }
  /** Runs every timer due up to now + ms, letting promise callbacks settle after each one. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      let next: [number, { at: number; seq: number; fn: () => void }] | undefined;
      for (const e of this.timers) {
        if (e[1].at > end) continue;
        if (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[1].seq < next[1].seq)) next = e;
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = end;
    await settle();
  }
}

/** Lets queued promise reactions run (no time passes: setImmediate comes after the microtasks). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

const OK: ProbeResult = { ok: true, reason: 'ok', ms: 1 };
const okProbe: Probe = async () => OK;
const failProbe: Probe = async () => ({ ok: false, reason: 'refused', ms: 1 });
/** A probe that ignores its signal and never answers (a wedged check). */
const hangProbe: Probe = () => new Promise<ProbeResult>(() => undefined);

interface Setup {
  clock: FakeClock;
  sched: CheckScheduler;
  transitions: [string, Transition][];
  results: [string, ProbeResult, number][];
  warnings: unknown[];
}

function setup(maxConcurrent = 100): Setup {
  const clock = new FakeClock();
  const transitions: [string, Transition][] = [];
  const results: [string, ProbeResult, number][] = [];
  const warnings: unknown[] = [];
  const log = { warn: (o: unknown) => void warnings.push(o), error: (o: unknown) => assert.fail(`unexpected error log: ${String(o)}`) };
  const sched = new CheckScheduler({
    maxConcurrent,
    clock,
    log: log as never,
    onTransition: (id, t) => transitions.push([id, t]),
    onResult: (id, r) => results.push([id, r, clock.now()]),
  });
  return { clock, sched, transitions, results, warnings };
}

/** Records the fake time of every start of a probe. */
function recording(clock: FakeClock, starts: number[], inner: Probe = okProbe): Probe {
  return (signal) => {
    starts.push(clock.now());
    return inner(signal);
  };
}

const opts = (o: object) => validateCheckOptions({ jitter: 0, ...o });

test('scheduler: without jitter a target is probed at start and then every interval', async () => {
  const { clock, sched } = setup();
  const starts: number[] = [];
  sched.add('a', opts({ interval_ms: 1000, timeout_ms: 500 }), recording(clock, starts));
  await clock.advance(5000);
  assert.deepEqual(starts, [], 'nothing before start()');
  sched.start();
  await clock.advance(4500);
  assert.deepEqual(starts, [5000, 6000, 7000, 8000, 9000]);
  assert.equal(sched.stats().started, 5);
});

test('scheduler: rise and fall through real results; transitions reach the callback with the id', async () => {
  const { clock, sched, transitions } = setup();
  let healthy = true;
  sched.add('web1', opts({ interval_ms: 1000, timeout_ms: 100, rise: 2, fall: 3, initial: 'down' }), async () =>
    healthy ? OK : { ok: false, reason: 'connect refused', ms: 1 });
  sched.start();
  await clock.advance(1500); // probes at 0 and 1000
  assert.equal(transitions.length, 1);
  assert.equal(transitions[0][0], 'web1');
  assert.deepEqual({ ...transitions[0][1] }, { from: 'down', to: 'up', at: 1000, reason: 'ok', successes: 2, failures: 0, weight: undefined });
  healthy = false;
  await clock.advance(3000); // 2000, 3000, 4000
  assert.equal(transitions.length, 2);
  assert.equal(transitions[1][1].to, 'down');
  assert.equal(transitions[1][1].at, 4000);
  assert.equal(transitions[1][1].reason, 'connect refused');
  assert.equal(sched.state('web1')?.status, 'down');
});

test('scheduler: jitter is seeded per target: the same ids give the same times, starts are spread', async () => {
  const run = async (): Promise<Map<string, number[]>> => {
    const { clock, sched } = setup(1000);
    const starts = new Map<string, number[]>();
    for (let i = 0; i < 50; i++) {
      const id = `10.0.0.${i}:80`;
      starts.set(id, []);
      sched.add(id, validateCheckOptions({ interval_ms: 1000, timeout_ms: 100, jitter: 0.5 }), recording(clock, starts.get(id) as number[]));
    }
    sched.start();
    await clock.advance(10_000);
    return starts;
  };
  const a = await run();
  const b = await run();
  assert.deepEqual([...a], [...b], 'deterministic');
  const firsts = [...a.values()].map((s) => s[0]);
  for (const f of firsts) assert.ok(f >= 0 && f < 1000, `first start ${f} within one interval`);
  assert.ok(firsts.filter((f) => f >= 500).length >= 10, 'first starts spread over the whole interval, not only jitter × interval');
  assert.ok(new Set(firsts).size >= 40, `50 targets start at ${new Set(firsts).size} distinct times`);
  for (const s of a.values()) {
    for (let i = 1; i < s.length; i++) {
      const gap = s[i] - s[i - 1];
      assert.ok(gap >= 500 && gap <= 1000, `period ${gap} within interval × (1 - jitter) .. interval`);
    }
    assert.ok(s.length >= 10 && s.length <= 21, `${s.length} probes in 10 s`);
  }
  const gapsOfOne = a.get('10.0.0.7:80') as number[];
  assert.ok(new Set(gapsOfOne.slice(1).map((t, i) => t - gapsOfOne[i])).size > 1, 'periods vary: no lock-step');
});

test('scheduler: the deadline aborts the signal and counts a failure', async () => {
  const { clock, sched, results, transitions } = setup();
  const signals: AbortSignal[] = [];
  // honours its signal: rejects when aborted
  const probe: Probe = (signal) => {
    signals.push(signal);
    return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
  };
  sched.add('slow', opts({ interval_ms: 1000, timeout_ms: 300, fall: 2, initial: 'up' }), probe);
  sched.start();
  // The probe's own timer would answer at 300 ms; this one ignores time, so the scheduler's
  // backstop answers DEADLINE_GRACE_MS later.
  await clock.advance(300 + DEADLINE_GRACE_MS - 1);
  assert.equal(signals[0].aborted, false);
  assert.equal(results.length, 0);
  await clock.advance(1);
  assert.equal(signals[0].aborted, true);
  assert.deepEqual(results.map(([, r, at]) => [r.ok, r.reason, r.timedOut, at]), [[false, 'timeout after 300 ms', true, 300 + DEADLINE_GRACE_MS]]);
  await clock.advance(1000);
  assert.equal(results.length, 2, 'the rejection after abort is not counted a second time');
  assert.equal(transitions.length, 1);
  assert.equal(transitions[0][1].to, 'down');
  assert.equal(transitions[0][1].at, 1300 + DEADLINE_GRACE_MS);
  assert.equal(sched.stats().timedOut, 2);
  assert.equal(sched.stats().inFlight, 0);
});

test('scheduler: a probe that ignores its signal is failed at the deadline; its late success is ignored', async () => {
  const { clock, sched, results } = setup();
  const resolvers: ((r: ProbeResult) => void)[] = [];
  const starts: number[] = [];
  sched.add('wedged', opts({ interval_ms: 1000, timeout_ms: 200, rise: 1, fall: 5, initial: 'down' }),
    recording(clock, starts, () => new Promise((resolve) => resolvers.push(resolve))));
  sched.start();
  await clock.advance(200 + DEADLINE_GRACE_MS);
  assert.deepEqual(results.map(([, r]) => r.reason), ['timeout after 200 ms']);
  resolvers[0](OK); // answers late
  await clock.advance(50);
  assert.equal(results.length, 1, 'late result not counted');
  assert.equal(sched.state('wedged')?.status, 'down', 'late success did not bring it up');
  assert.equal(sched.state('wedged')?.failures, 1);
  await clock.advance(700); // t=1000: the late answer freed the target; a new probe starts
  assert.deepEqual(starts, [0, 1000]);
});

test('scheduler: never a second probe beside a hung one; the target keeps failing each interval', async () => {
  const { clock, sched, results, transitions } = setup();
  const starts: number[] = [];
  sched.add('hung', opts({ interval_ms: 1000, timeout_ms: 500, fall: 3, initial: 'up' }), recording(clock, starts, hangProbe));
  sched.start();
  await clock.advance(5000);
  assert.deepEqual(starts, [0], 'one probe only while it is still running');
  assert.deepEqual(results.map(([, r, at]) => [r.reason, r.timedOut, at]), [
    ['timeout after 500 ms', true, 500 + DEADLINE_GRACE_MS],
    ['previous probe still running after its timeout', true, 1000],
    ['previous probe still running after its timeout', true, 2000],
    ['previous probe still running after its timeout', true, 3000],
    ['previous probe still running after its timeout', true, 4000],
    ['previous probe still running after its timeout', true, 5000],
  ]);
  assert.equal(transitions.length, 1);
  assert.equal(transitions[0][1].at, 2000, 'down after fall failures');
  assert.equal(sched.stats().inFlight, 0, 'the hung probe holds no concurrency slot');
});

test('scheduler: timeout equal to interval: a probe that times itself out is followed at once, one per interval', async () => {
  const { clock, sched, results } = setup();
  const starts: number[] = [];
  // answers "timeout" itself at exactly timeout_ms, like the real probes
  const selfTimed: Probe = () => new Promise((resolve) => clock.setTimer(() => resolve({ ok: false, reason: 'timeout after 1000 ms connecting', ms: 1000 }), 1000));
  sched.add('slowpoke', opts({ interval_ms: 1000, timeout_ms: 1000, fall: 3, initial: 'up' }), recording(clock, starts, selfTimed));
  sched.start();
  await clock.advance(3000);
  assert.equal(results.length, 3, 'one failure per interval, not one every other interval');
  assert.ok(results.every(([, r]) => r.reason === 'timeout after 1000 ms connecting'), 'the probe\'s own reason, not the backstop\'s');
  assert.equal(sched.state('slowpoke')?.status, 'down');
  assert.equal(starts.length, 4);
});

test('scheduler: a hanging probe never delays other targets (ample cap)', async () => {
  const { clock, sched } = setup(10);
  const good: number[] = [];
  sched.add('hangs', opts({ interval_ms: 1000, timeout_ms: 1000 }), hangProbe);
  sched.add('fine', opts({ interval_ms: 250, timeout_ms: 100 }), recording(clock, good));
  sched.start();
  await clock.advance(2000);
  assert.deepEqual(good, [0, 250, 500, 750, 1000, 1250, 1500, 1750, 2000]);
});

test('scheduler: with a cap of 1, a hung probe delays others at most until its deadline', async () => {
  const { clock, sched } = setup(1);
  const good: number[] = [];
  sched.add('hangs', opts({ interval_ms: 1000, timeout_ms: 300 }), hangProbe);
  sched.add('fine', opts({ interval_ms: 1000, timeout_ms: 100 }), recording(clock, good));
  sched.start();
  await clock.advance(2500);
  // 'fine' waits for the slot until the hung probe's deadline (300 + grace), later rounds the
  // same; the hung probe no longer takes the slot after its first deadline (never a second
  // probe beside it)
  assert.deepEqual(good, [300 + DEADLINE_GRACE_MS, 1000, 2000]);
});

test('scheduler: the global cap bounds concurrent probes and queued probes run as slots free', async () => {
  const { clock, sched } = setup(3);
  let running = 0;
  let peak = 0;
  const starts: number[] = [];
  const probe: Probe = (signal) => {
    starts.push(clock.now());
    running++;
    peak = Math.max(peak, running);
    return new Promise((resolve) => {
      clock.setTimer(() => {
        running--;
        resolve(OK);
      }, 100);
      signal.addEventListener('abort', () => undefined);
    });
  };
  for (let i = 0; i < 10; i++) sched.add(`t${i}`, opts({ interval_ms: 1000, timeout_ms: 500 }), probe);
  sched.start();
  await clock.advance(50);
  assert.equal(sched.stats().inFlight, 3);
  assert.equal(sched.stats().queued, 7);
  await clock.advance(950);
  assert.equal(peak, 3);
  assert.deepEqual(starts, [0, 0, 0, 100, 100, 100, 200, 200, 200, 300, 1000, 1000, 1000]);
  assert.equal(sched.stats().timedOut, 0);
});

test('scheduler: a probe that throws, rejects or returns nonsense counts as failed, with the reason', async () => {
  const { clock, sched, results, warnings } = setup();
  const o = opts({ interval_ms: 1000, timeout_ms: 100, initial: 'up' });
  sched.add('throws', o, () => {
    throw new Error('EMFILE');
  });
  sched.add('rejects', o, async () => {
    throw new Error('ECONNREFUSED');
  });
  sched.add('nonsense', o, async () => ({ ok: true, reason: 'x', ms: 1, weight: -3 }));
  sched.start();
  await clock.advance(10);
  const byId = new Map(results.map(([id, r]) => [id, r]));
  assert.equal(byId.get('throws')?.ok, false);
  assert.match(byId.get('throws')?.reason ?? '', /probe failed: EMFILE/);
  assert.match(byId.get('rejects')?.reason ?? '', /probe failed: ECONNREFUSED/);
  assert.equal(byId.get('nonsense')?.ok, false);
  assert.match(byId.get('nonsense')?.reason ?? '', /invalid probe result: nonsense\.probe\.weight/);
  assert.equal(warnings.length, 1, 'the invalid result is logged as a probe bug');
  assert.equal(sched.stats().inFlight, 0);
});

test('scheduler: exec dynamic weight passes through to the state and the transition', async () => {
  const { clock, sched, transitions } = setup();
  sched.add('exec', opts({ interval_ms: 1000, timeout_ms: 100, rise: 1 }), async () => ({ ok: true, weight: 5, reason: 'exit 7', ms: 2 }));
  sched.start();
  await clock.advance(0);
  assert.equal(transitions[0][1].weight, 5);
  assert.equal(sched.state('exec')?.weight, 5);
});

test('scheduler: stop aborts running probes, ignores their results and fires no more timers; start resumes', async () => {
  const { clock, sched, results } = setup();
  const signals: AbortSignal[] = [];
  const resolvers: ((r: ProbeResult) => void)[] = [];
  sched.add('a', opts({ interval_ms: 1000, timeout_ms: 500 }), (signal) => {
    signals.push(signal);
    return new Promise((resolve) => resolvers.push(resolve));
  });
  sched.start();
  await clock.advance(100);
  sched.stop();
  assert.equal(signals[0].aborted, true);
  assert.equal(clock.pending, 0, 'no timer left');
  resolvers[0](OK);
  await clock.advance(5000);
  assert.equal(results.length, 0);
  assert.equal(signals.length, 1);
  assert.equal(sched.stats().inFlight, 0);
  sched.start();
  await clock.advance(0);
  assert.equal(signals.length, 2, 'resumes at once');
  resolvers[1](OK);
  await clock.advance(0);
  assert.equal(results.length, 1);
  sched.stop();
});

test('scheduler: remove cancels one target only; add while running starts it', async () => {
  const { clock, sched } = setup();
  const a: number[] = [];
  const b: number[] = [];
  const c: number[] = [];
  sched.add('a', opts({ interval_ms: 1000, timeout_ms: 100 }), recording(clock, a));
  sched.add('b', opts({ interval_ms: 1000, timeout_ms: 100 }), recording(clock, b));
  sched.start();
  await clock.advance(1500);
  assert.equal(sched.remove('a'), true);
  assert.equal(sched.remove('a'), false);
  assert.equal(sched.state('a'), undefined);
  sched.add('c', opts({ interval_ms: 1000, timeout_ms: 100 }), recording(clock, c));
  await clock.advance(1500);
  assert.deepEqual(a, [0, 1000]);
  assert.deepEqual(b, [0, 1000, 2000, 3000]);
  assert.deepEqual(c, [1500, 2500]);
  assert.equal(sched.stats().targets, 2);
});

test('scheduler: a throwing transition consumer is logged and the checks go on', async () => {
  const clock = new FakeClock();
  const logged: unknown[] = [];
  const log = { warn: () => undefined, error: (o: unknown) => void logged.push(o) } as never;
  const starts: number[] = [];
  const sched = new CheckScheduler({
    maxConcurrent: 1, clock, log,
    onTransition: () => {
      throw new Error('consumer bug');
    },
  });
  sched.add('x', opts({ interval_ms: 1000, timeout_ms: 100, rise: 1, fall: 1 }), recording(clock, starts, async () =>
    (starts.length % 2 ? OK : { ok: false, reason: 'no', ms: 1 })));
  sched.start();
  await clock.advance(3000);
  assert.deepEqual(starts, [0, 1000, 2000, 3000]);
  assert.equal(logged.length, 4, 'every transition threw and was logged');
  sched.stop();
});

test('scheduler: bad arguments are named', () => {
  const named = (f: () => unknown, field: string): void =>
    assert.throws(f, (e: unknown) => e instanceof InvalidArgumentError && e.field === field, field);
  named(() => new CheckScheduler({ maxConcurrent: 0, onTransition: () => undefined }), 'maxConcurrent');
  named(() => new CheckScheduler({ maxConcurrent: 1.5, onTransition: () => undefined }), 'maxConcurrent');
  const { sched } = setup();
  named(() => sched.add('', opts({}), okProbe), 'id');
  sched.add('a', opts({}), okProbe);
  named(() => sched.add('a', opts({}), okProbe), 'id');
  named(() => sched.add('b', { ...opts({}), timeout_ms: 5000 }, okProbe), 'check.timeout_ms');
  named(() => sched.add('c', opts({}), 'tcp' as never), 'c.probe');
});
