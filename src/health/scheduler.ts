// SPDX-License-Identifier: Apache-2.0
// Runs the probes of many targets: each at its own interval, shifted by a jitter seeded from the
// target's id (so restarts keep the spread and thousands of checks never align), at most one probe
// per target, a hard deadline per probe and a global cap on concurrent probes. Results feed each
// target's HealthState; transitions go to a callback. Clock and timers are injected so unit tests
// drive time by hand.

import pino, { type Logger } from 'pino';
import { InvalidArgumentError } from '../errors.js';
import { HealthState, type Transition } from './state.js';
import { validateProbeResult, type CheckOptions, type ProbeResult } from './types.js';
import { mulberry32 } from '../model/prng.js';

/** One probe: resolves with its result; should stop work when `signal` aborts (deadline, stop). */
export type Probe = (signal: AbortSignal) => Promise<ProbeResult>;

export interface TimerClock {
  now(): number; // ms
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/** Wall-clock milliseconds that never go backwards (performance.now from the time origin). */
export const systemClock: TimerClock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface SchedulerOptions {
  maxConcurrent: number; // probes running at once, all targets together
  onTransition: (id: string, transition: Transition, state: HealthState) => void;
  onResult?: (id: string, result: ProbeResult) => void; // every counted result, for counters
  clock?: TimerClock;
  log?: Pick<Logger, 'warn' | 'error'>;
}

export interface SchedulerStats {
  targets: number;
  inFlight: number; // probes holding a concurrency slot
  queued: number; // probes due and waiting for a slot
  started: number;
  timedOut: number;
  skipped: number; // due times passed over because the target's probe was still queued or running
}

interface Run {
  controller: AbortController;
  deadline: unknown;
  settled: boolean; // counted (result, deadline) or abandoned (stop, remove); later results are ignored
}

interface Target {
  id: string;
  probe: Probe;
  state: HealthState;
  random: () => number;
  due: number;
  timer: unknown;
  queued: boolean;
  /** A due time passed while the probe ran (within its deadline): probe again once it is counted. */
  dueAgain: boolean;
  controller: AbortController | undefined;
  run: Run | undefined; // the probe still running, counted or not: never a second one beside it
}

/**
 * The abort reasons a probe's signal carries. Made once: an Error per expired probe captured a
 * stack trace every time, 8% of the daemon when thousands of probes expired together.
 */
const TIMED_OUT = new Error('health probe passed its deadline');
const STOPPED = new Error('health check stopped');

/** How long after timeout_ms the scheduler stops waiting for a probe that did not time itself out. */
export const DEADLINE_GRACE_MS = 50;

const fallbackLog = pino({ level: process.env.XLVS_LOG_LEVEL ?? 'info', base: { svc: 'xlvsd', part: 'health' } });

/** FNV-1a of the id: a stable per-target seed. */
function seedOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export class CheckScheduler {
  private readonly targets = new Map<string, Target>();
  private readonly clock: TimerClock;
  private readonly log: Pick<Logger, 'warn' | 'error'>;
  /** Due targets waiting for a slot, FIFO from queueHead (Array.shift is O(n): 10,000 checks). */
  private queue: Target[] = [];
  private queueHead = 0;
  private running = false;
  private active = 0;
  private counts = { started: 0, timedOut: 0, skipped: 0 };

  constructor(private readonly opts: SchedulerOptions) {
    const cap = opts.maxConcurrent;
    if (!Number.isInteger(cap) || cap < 1) {
      throw new InvalidArgumentError('maxConcurrent', cap, 'must be an integer of at least 1');
    }
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? fallbackLog;
  }

  /** Adds a target; its first probe is due within one interval (jitter 0: at once) when running. */
  add(id: string, options: CheckOptions, probe: Probe): HealthState {
    if (typeof id !== 'string' || id === '') throw new InvalidArgumentError('id', id, 'must be a non-empty string');
    if (this.targets.has(id)) throw new InvalidArgumentError('id', id, 'is already scheduled');
    if (typeof probe !== 'function') throw new InvalidArgumentError(`${id}.probe`, typeof probe, 'must be a function');
    const state = new HealthState(options, this.clock.now());
    const target: Target = { id, probe, state, random: mulberry32(seedOf(id)), due: 0, timer: undefined, queued: false, dueAgain: false, controller: undefined, run: undefined };
    this.targets.set(id, target);
    if (this.running) this.scheduleFirst(target);
    return state;
  }

  /** Removes a target: its timer is cancelled, a running probe aborted and its result ignored. */
  remove(id: string): boolean {
    const target = this.targets.get(id);
    if (!target) return false;
    this.halt(target);
    this.targets.delete(id);
    return true;
  }

  state(id: string): HealthState | undefined {
    return this.targets.get(id)?.state;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const target of this.targets.values()) this.scheduleFirst(target);
  }

  /** Stops every timer and aborts running probes; their late results are ignored. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    for (const target of this.targets.values()) this.halt(target);
    this.queue = [];
    this.queueHead = 0;
  }

  stats(): SchedulerStats {
    return { targets: this.targets.size, inFlight: this.active, queued: this.queue.length - this.queueHead, ...this.counts };
  }

  /**
   * With jitter, first probes are spread over a whole interval: thousands of targets added at
   * once (a start, a reload) then probe at an even rate from the first second, instead of in one
   * wave that the per-period jitter takes minutes to disperse. 10,000 checks started within 100
   * ms kept the daemon's event loop blocked 200 ms at a time, once a second. Without jitter the
   * first probe is at once.
   */
  private scheduleFirst(target: Target): void {
    const o = target.state.options;
    const spread = o.jitter > 0 ? o.interval_ms : 0;
    this.scheduleAt(target, this.clock.now() + Math.floor(target.random() * spread));
  }

  /**
   * Jitter only shortens the period (interval × (1 − jitter × u)), never lengthens it, so a dead
   * target is still detected within interval × fall + timeout.
   */
  private period(target: Target): number {
    const o = target.state.options;
    return Math.max(1, Math.round(o.interval_ms * (1 - o.jitter * target.random())));
  }

  private scheduleAt(target: Target, due: number): void {
    target.due = due;
    target.timer = this.clock.setTimer(() => this.fire(target), Math.max(0, due - this.clock.now()));
  }

  private fire(target: Target): void {
    target.timer = undefined;
    if (!this.running || this.targets.get(target.id) !== target) return;
    const now = this.clock.now();
    // Timers ran late (a busy event loop): the missed periods are skipped, not caught up in a
    // burst, and the target keeps its phase. Re-basing every late target on `now` lined up all
    // the targets one long pause had delayed, so they fell due together again a period later,
    // and the next pause was longer: at 10,000 checks the daemon never left that loop.
    const p = this.period(target);
    let next = target.due + p;
    if (next <= now) next = target.due + p * (Math.floor((now - target.due) / p) + 1);
    this.scheduleAt(target, next);

    if (target.queued) {
      this.counts.skipped++;
      return;
    }
    if (target.run) {
      if (target.run.settled) {
        // a probe past its deadline that ignores its signal: the target keeps failing, but no second probe
        this.counts.skipped++;
        this.count(target, { ok: false, reason: 'previous probe still running after its timeout', ms: 0, timedOut: true });
      } else {
        // still within its deadline (timeout_ms close to interval_ms): the next probe starts as
        // soon as this one is counted, so a hung target still fails once per interval
        target.dueAgain = true;
      }
      return;
    }
    target.queued = true;
    this.queue.push(target);
    this.pump();
  }

  private pump(): void {
    while (this.running && this.active < this.opts.maxConcurrent && this.queueHead < this.queue.length) {
      const target = this.queue[this.queueHead++]!;
      target.queued = false;
      this.launch(target);
    }
    // Drop the consumed prefix once it is most of the array (amortised O(1) per probe).
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private launch(target: Target): void {
    const timeout = target.state.options.timeout_ms;
    const startedAt = this.clock.now();
    // One controller per target, reused until it is aborted: creating one per probe was 6% of the
    // daemon's CPU at thousands of probes a second. Probes remove their listeners when they end.
    if (!target.controller || target.controller.signal.aborted) target.controller = new AbortController();
    const run: Run = { controller: target.controller, deadline: undefined, settled: false };
    target.run = run;
    this.active++;
    this.counts.started++;
    // The probe times itself out at timeout_ms with its own, more precise reason; this deadline
    // is the backstop for a probe that does not, a little later so the probe's answer wins.
    run.deadline = this.clock.setTimer(() => this.expire(target, run), timeout + DEADLINE_GRACE_MS);
    let pending: Promise<ProbeResult>;
    try {
      pending = Promise.resolve(target.probe(run.controller.signal));
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (result) => this.finish(target, run, this.checked(target, result, startedAt)),
      (err: unknown) => this.finish(target, run, {
        ok: false,
        reason: `probe failed: ${err instanceof Error ? err.message : String(err)}`,
        ms: this.clock.now() - startedAt,
      }),
    );
  }

  private checked(target: Target, result: ProbeResult, startedAt: number): ProbeResult {
    try {
      return validateProbeResult(result, `${target.id}.probe`);
    } catch (err) {
      this.log.warn({ err, id: target.id }, 'health probe returned an invalid result; counted as failed');
      return { ok: false, reason: `invalid probe result: ${(err as Error).message}`, ms: this.clock.now() - startedAt };
    }
  }

  private finish(target: Target, run: Run, result: ProbeResult): void {
    if (target.run === run) target.run = undefined;
    if (run.settled) return; // late: already counted failed at its deadline, or abandoned
    run.settled = true;
    this.clock.clearTimer(run.deadline);
    this.active--;
    this.count(target, result);
    this.again(target);
    this.pump();
  }

  /** A probe fell due while the last one ran: it starts now (queued like any other). */
  private again(target: Target): void {
    if (!target.dueAgain) return;
    target.dueAgain = false;
    if (!this.running || this.targets.get(target.id) !== target || target.queued) return;
    target.queued = true;
    this.queue.push(target);
  }

  private expire(target: Target, run: Run): void {
    if (run.settled) return;
    run.settled = true;
    this.active--; // the slot goes back now: a hung probe must not hold up other targets
    this.counts.timedOut++;
    const timeout = target.state.options.timeout_ms;
    run.controller.abort(TIMED_OUT);
    this.count(target, { ok: false, reason: `timeout after ${timeout} ms`, ms: timeout, timedOut: true });
    this.again(target);
    this.pump();
  }

  private halt(target: Target): void {
    target.dueAgain = false;
    if (target.timer !== undefined) this.clock.clearTimer(target.timer);
    target.timer = undefined;
    if (target.queued) {
      this.queue = this.queue.slice(this.queueHead).filter((t) => t !== target);
      this.queueHead = 0;
      target.queued = false;
    }
    const run = target.run;
    if (run && !run.settled) {
      run.settled = true;
      this.clock.clearTimer(run.deadline);
      this.active--;
      run.controller.abort(STOPPED);
    }
  }

  private count(target: Target, result: ProbeResult): void {
    const now = this.clock.now();
    try {
      this.opts.onResult?.(target.id, result);
      const transition = target.state.record(result, now);
      if (transition) this.opts.onTransition(target.id, transition, target.state);
    } catch (err) {
      // a broken consumer must not stop the checks of every target; it is reported, loudly
      this.log.error({ err, id: target.id }, 'health result consumer threw');
    }
  }
}
