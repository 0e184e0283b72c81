// SPDX-License-Identifier: Apache-2.0
// The daemon's health checker (issue 5): one scheduled probe per (service, real) that has a check,
// the overlay that turns their states into the weights the data plane runs, transition events
// (log line, counter, watch stream) and the saved states that carry health across a restart.
//
// Health never edits the configured state. The daemon hands sync() the desired state (config +
// API overrides) and asks overlay() for what to program; a transition or a slow-start step calls
// onChange(), coalesced to one call per tick, and the daemon re-applies. Services whose health
// did not change keep their very object, so the reconciler skips them by identity.

import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { realId, serviceId, type AppliedState, type DesiredState, type ServiceKey, type ServiceSpec } from '../model/types.js';
import { CheckScheduler, systemClock, type TimerClock } from './scheduler.js';
import { checkDestination, checkKey, type CheckSpec } from './spec.js';
import type { HealthState, HealthStatus, Transition } from './state.js';
import { checkOf, overlayService, type Overlaid, type RealHealth } from './overlay.js';
import { makeProbe, type ProbeDeps } from './probe-factory.js';
import { HealthStore } from './store.js';
import { Yielder } from '../model/yielder.js';
import type { ProbeResult } from './types.js';
import type { HealthEvent, HealthReport, HealthTotals, ProbeMethod, TargetCounters, TargetStatus } from './report.js';

/** Health changes reach the data plane at most this often (all changes of the gap at once). */
export const APPLY_GAP_MS = 100;

/** How often a service with a real in slow start is re-weighted. */
export const SLOW_START_STEP_MS = 500;

interface Target {
  id: string;
  service: string;
  serviceKey: ServiceKey;
  real: string;
  realAddress: string;
  realPort: number;
  key: string;
  check: CheckSpec;
  address: string;
  port: number;
  state: HealthState;
  last: TargetStatus['last'];
  counters: TargetCounters;
  method: ProbeMethod;
  degraded: string | undefined;
}

export interface HealthManagerOptions {
  log: Logger;
  stateDir: string;
  maxProbes: number;
  deps: ProbeDeps;
  /** Health changed what overlay() returns; called at most once per tick. */
  onChange: () => void;
  clock?: TimerClock;
}

const targetId = (service: string, real: string): string => `${service} ${real}`;

export class HealthManager {
  private readonly scheduler: CheckScheduler;
  private readonly targets = new Map<string, Target>();
  /** Per service: targets by index of its reals, and a version bumped by every change. */
  private readonly versions = new Map<string, number>();
  private readonly cache = new Map<string, { base: ServiceSpec; version: number; out: Overlaid }>();
  private readonly events = new EventEmitter();
  private readonly store: HealthStore;
  private readonly clock: TimerClock;
  private transitions = 0;
  private flushPending = false;
  private lastFlush = Number.NEGATIVE_INFINITY;
  private stepTimer: ReturnType<typeof setInterval> | undefined;
  private ramping = new Set<string>();

  constructor(private readonly opts: HealthManagerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.store = new HealthStore(opts.stateDir, opts.log);
    this.scheduler = new CheckScheduler({
      maxConcurrent: opts.maxProbes,
      clock: this.clock,
      log: opts.log,
      onResult: (id, r) => this.counted(id, r),
      onTransition: (id, t) => this.transitioned(id, t),
    });
    this.events.setMaxListeners(0);
  }

  start(): void {
    this.scheduler.start();
    this.stepTimer = setInterval(() => this.step(), SLOW_START_STEP_MS);
    this.stepTimer.unref();
  }

  async stop(): Promise<void> {
    this.scheduler.stop();
    if (this.stepTimer) clearInterval(this.stepTimer);
    await this.store.flush();
  }

  /** Adds, keeps or replaces targets to match `d`; a target whose check changed starts over. */
  sync(d: DesiredState): void {
    const want = new Map<string, { s: ServiceSpec; i: number; check: CheckSpec }>();
    for (const s of d.services) {
      s.reals.forEach((r, i) => {
        const check = checkOf(s, r);
        if (check) want.set(targetId(serviceId(s), realId(r)), { s, i, check });
      });
    }
    for (const [id, t] of this.targets) {
      const w = want.get(id);
      if (w && t.key === keyOf(w.check, w.s.reals[w.i]!, w.s)) continue;
      this.scheduler.remove(id);
      this.targets.delete(id);
      this.bump(t.service);
    }
    // Checks of the VIP on dr reals through sockets (no SYN checks): their routes first, so
    // their first probe finds them. SYN checks reach the real without routes.
    const syn = this.opts.deps.synProber !== undefined;
    const vipPairs = syn ? [] : [...want.values()].filter((x) => x.check.vip).map((x) => ({ vip: x.s.vip, real: x.s.reals[x.i]!.address }));
    this.opts.deps.vipRoutes?.sync(vipPairs);
    for (const [id, { s, i, check }] of want) {
      if (this.targets.has(id)) continue;
      const real = s.reals[i]!;
      const service = serviceId(s);
      const dest = checkDestination(check, real, s);
      const saved = this.store.get(id, keyOf(check, real, s));
      const options = saved === undefined ? check.options : { ...check.options, initial: saved };
      const socketVip = check.vip && !syn;
      const mark = socketVip ? this.opts.deps.vipRoutes?.markOf({ vip: s.vip, real: real.address }) : undefined;
      if (socketVip && mark === undefined) throw new Error(`no route installed for the VIP check of ${realId(real)} in ${service}`);
      const via = mark === undefined ? undefined : { device: this.opts.deps.vipRoutes!.device, mark };
      const vipReal = check.vip && (real.method === 'dr' || real.method === 'tun') ? { address: real.address, method: real.method } : undefined;
      const probe = makeProbe(check, { ...dest, vip: s.vip, vipPort: s.port, service, via, vipReal }, this.opts.deps);
      const state = this.scheduler.add(id, options, probe.run);
      const t: Target = {
        id, service, serviceKey: { vip: s.vip, port: s.port, protocol: s.protocol }, real: realId(real), realAddress: real.address, realPort: real.port, key: keyOf(check, real, s), check, ...dest, state, last: undefined,
        counters: { probes_ok: 0, probes_failed: 0, probes_timed_out: 0, went_up: 0, went_down: 0 }, method: probe.method, degraded: probe.degraded,
      };
      this.targets.set(id, t);
      this.bump(service);
    }
  }

  /** After the state sync()ed to is applied: forget saved states of targets gone from it. */
  commit(): void {
    this.store.retain(new Set(this.targets.keys()));
  }

  /** The state to program: `d` with every checked service's health applied (gives the loop turns). */
  async overlay(d: DesiredState): Promise<AppliedState> {
    const now = this.clock.now();
    const live = new Set<string>();
    const y = new Yielder();
    const services: AppliedState['services'] = [];
    for (const s of d.services) {
      if (y.due()) await y.pause();
      const id = serviceId(s);
      live.add(id);
      services.push(this.overlaid(id, s, now).spec);
    }
    for (const id of this.cache.keys()) if (!live.has(id)) this.cache.delete(id);
    return { ...d, services };
  }

  /** Everything ListHealth reports; services listed are those with a check or a sorry server. */
  report(d: DesiredState): HealthReport {
    const services: HealthReport['services'] = [];
    for (const s of d.services) {
      const id = serviceId(s);
      const h = this.cache.get(id)?.out.health;
      if (h && (s.check || s.sorry_server || s.reals.some((r) => r.check))) {
        services.push({ service: id, service_key: { vip: s.vip, port: s.port, protocol: s.protocol }, health: { healthyWeight: h.healthyWeight, quorum: h.quorum, sorryActive: h.sorryActive } });
      }
    }
    return { checks: this.list(), services, totals: this.totals() };
  }

  private list(): TargetStatus[] {
    return [...this.targets.values()].map((t) => ({
      service: t.service,
      service_key: { ...t.serviceKey },
      real: t.real,
      real_address: t.realAddress,
      real_port: t.realPort,
      type: t.check.type,
      address: t.address,
      port: t.port,
      status: t.state.status,
      since: t.state.changedAt,
      successes: t.state.successes,
      failures: t.state.failures,
      weight: t.state.weight,
      last: t.last,
      counters: { ...t.counters },
      method: t.method,
      ...(t.degraded === undefined ? {} : { degraded: t.degraded }),
    }));
  }

  /** The health of (service, real), if it is checked. */
  statusOf(service: string, real: string): HealthStatus | undefined {
    return this.targets.get(targetId(service, real))?.state.status;
  }

  private totals(): HealthTotals {
    const st = this.scheduler.stats();
    let up = 0, ok = 0, failed = 0;
    for (const t of this.targets.values()) {
      if (t.state.status === 'up') up++;
      ok += t.counters.probes_ok;
      failed += t.counters.probes_failed;
    }
    return {
      targets: this.targets.size, up, down: this.targets.size - up, probes_started: st.started, probes_ok: ok, probes_failed: failed,
      timed_out: st.timedOut, skipped: st.skipped, in_flight: st.inFlight, transitions: this.transitions,
    };
  }

  /** Every transition from now on; returns the unsubscribe function. */
  watch(listener: (e: HealthEvent) => void): () => void {
    this.events.on('transition', listener);
    return () => this.events.off('transition', listener);
  }

  private overlaid(id: string, s: ServiceSpec, now: number): Overlaid {
    const version = this.versions.get(id) ?? 0;
    const hit = this.cache.get(id);
    if (hit && hit.base === s && hit.version === version) return hit.out;
    const out = overlayService(s, (i) => this.healthAt(id, s, i), now);
    this.cache.set(id, { base: s, version, out });
    if (out.health.ramping) this.ramping.add(id);
    else this.ramping.delete(id);
    return out;
  }

  private healthAt(service: string, s: ServiceSpec, i: number): RealHealth | undefined {
    const t = this.targets.get(targetId(service, realId(s.reals[i]!)));
    if (!t) return undefined;
    return { status: t.state.status, upSince: t.state.upSince, weight: t.state.weight, check: t.check };
  }

  private counted(id: string, r: ProbeResult): void {
    const t = this.targets.get(id);
    if (!t) return;
    if (r.ok) t.counters.probes_ok++;
    else {
      t.counters.probes_failed++;
      if (r.timedOut) t.counters.probes_timed_out++;
    }
    t.last = { ok: r.ok, reason: r.reason, ms: r.ms, at: Date.now() };
  }

  private transitioned(id: string, tr: Transition): void {
    const t = this.targets.get(id);
    if (!t) return;
    this.transitions++;
    if (tr.to !== tr.from) {
      if (tr.to === 'up') t.counters.went_up++;
      else t.counters.went_down++;
      this.store.set(id, t.key, tr.to);
    }
    const event: HealthEvent = {
      at: Date.now(), service: t.service, service_key: { ...t.serviceKey }, real: t.real, real_address: t.realAddress, real_port: t.realPort, type: t.check.type, from: tr.from, to: tr.to, reason: tr.reason, weight: tr.weight,
    };
    const fields = { service: t.service, real: t.real, check: t.check.type, from: tr.from, to: tr.to, reason: tr.reason, weight: tr.weight, successes: tr.successes, failures: tr.failures };
    if (tr.to === 'down') this.opts.log.warn(fields, `real ${t.real} of ${t.service} is down: ${tr.reason}`);
    else if (tr.from === 'down') this.opts.log.info(fields, `real ${t.real} of ${t.service} is up`);
    else this.opts.log.info(fields, `real ${t.real} of ${t.service} reports weight ${tr.weight ?? 'configured'}`);
    this.bump(t.service);
    this.events.emit('transition', event);
  }

  /** Slow start: services with a ramping real are re-weighted every step. */
  private step(): void {
    if (this.ramping.size === 0) return;
    for (const id of this.ramping) this.bump(id);
  }

  /**
   * Marks a service changed and schedules one onChange for all changes: at once if none ran in
   * the last APPLY_GAP_MS, else at the end of that gap. A re-apply rebuilds the changed services'
   * tables (an RCU wait in the kernel); 10,000 reals coming up one by one must not mean 10,000
   * of them.
   */
  private bump(service: string): void {
    this.versions.set(service, (this.versions.get(service) ?? 0) + 1);
    if (this.flushPending) return;
    this.flushPending = true;
    const wait = Math.max(0, this.lastFlush + APPLY_GAP_MS - this.clock.now());
    const flush = (): void => {
      this.flushPending = false;
      this.lastFlush = this.clock.now();
      this.opts.onChange();
    };
    if (wait === 0) setImmediate(flush);
    else setTimeout(flush, wait).unref();
  }
}

/** A check's identity for one real: the check and where it goes. */
/**
 * What makes a target the same across reloads: its check and where it goes; for a check of the
 * VIP also the real's method, which decides how the probe reaches it (at its MAC, or tunnelled).
 */
function keyOf(check: CheckSpec, real: { address: string; port: number; method: string }, s: ServiceSpec): string {
  const key = `${checkKey(check)} ${realId(checkDestination(check, real, s))}`;
  return check.vip ? `${key} via ${real.method} ${real.address}` : key;
}
