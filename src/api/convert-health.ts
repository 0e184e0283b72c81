// SPDX-License-Identifier: Apache-2.0
// Health reports and events (ListHealth, WatchHealth) between the model (health/report.ts) and
// the wire (types generated from the proto). The client decodes with the same strictness as requests: a field that
// does not fit is an error naming it, never a silently wrong value.

import { InvalidArgumentError } from '../errors.js';
import type { HealthCheck__Output } from '../gen/proto/xlvs/v1/HealthCheck.js';
import type { HealthEvent__Output } from '../gen/proto/xlvs/v1/HealthEvent.js';
import type { HealthStatus__Output } from '../gen/proto/xlvs/v1/HealthStatus.js';
import type { HealthTotals__Output } from '../gen/proto/xlvs/v1/HealthTotals.js';
import type { ListHealthResponse__Output } from '../gen/proto/xlvs/v1/ListHealthResponse.js';
import { CHECK_TYPES, type CheckType } from '../health/spec.js';
import { PROBE_METHODS, type HealthEvent, type HealthReport, type HealthTotals, type ProbeMethod, type TargetStatus } from '../health/report.js';
import { realId, serviceId } from '../model/types.js';
import { HEALTH_TO_WIRE, countFromWire, enumFromWire, serviceKeyFromWire, serviceKeyToWire, uint64FromWire } from './convert.js';
import type { Received } from './received.js';
import { checkAddress, checkRealPort, checkWeight } from './validate.js';

/** A check's status: the up/down half of a real's health (a check always has one). */
const STATUS_TO_WIRE: Record<'up' | 'down', HealthStatus__Output> = { up: HEALTH_TO_WIRE.up, down: HEALTH_TO_WIRE.down };

const TOTAL_KEYS = ['checks', 'up', 'down', 'probes_started', 'probes_ok', 'probes_failed', 'timed_out', 'skipped', 'in_flight', 'transitions'] as const;

function totalsToWire(t: HealthTotals): HealthTotals__Output {
  const model: Record<(typeof TOTAL_KEYS)[number], number> = { ...t, checks: t.targets };
  return Object.fromEntries(TOTAL_KEYS.map((k) => [k, String(model[k])])) as unknown as HealthTotals__Output;
}

function checkToWire(c: TargetStatus): HealthCheck__Output {
  return {
    service: serviceKeyToWire(c.service_key),
    real_address: c.real_address,
    real_port: c.real_port,
    type: c.type,
    check_address: c.address,
    check_port: c.port,
    status: STATUS_TO_WIRE[c.status],
    since_ms: String(Math.round(c.since ?? 0)),
    successes: c.successes,
    failures: c.failures,
    ...(c.weight === undefined ? {} : { reported_weight: c.weight }),
    ...(c.last === undefined ? {} : { last_ok: c.last.ok }),
    last_reason: c.last?.reason ?? '',
    last_ms: c.last?.ms ?? 0,
    last_at_ms: String(c.last?.at ?? 0),
    probes_ok: String(c.counters.probes_ok),
    probes_failed: String(c.counters.probes_failed),
    probes_timed_out: String(c.counters.probes_timed_out),
    went_up: String(c.counters.went_up),
    went_down: String(c.counters.went_down),
    probe_method: c.method,
    degraded: c.degraded ?? '',
  };
}

export function healthReportToWire(r: HealthReport): ListHealthResponse__Output {
  return {
    checks: r.checks.map(checkToWire),
    services: r.services.map((s) => ({
      service: serviceKeyToWire(s.service_key),
      healthy_weight: String(s.health.healthyWeight),
      quorum: String(s.health.quorum),
      sorry_active: s.health.sorryActive,
    })),
    totals: totalsToWire(r.totals),
  };
}

export function healthEventToWire(e: HealthEvent): HealthEvent__Output {
  return {
    at_ms: String(Math.round(e.at)),
    service: serviceKeyToWire(e.service_key),
    real_address: e.real_address,
    real_port: e.real_port,
    type: e.type,
    from: STATUS_TO_WIRE[e.from],
    to: STATUS_TO_WIRE[e.to],
    reason: e.reason,
    ...(e.weight === undefined ? {} : { reported_weight: e.weight }),
  };
}

// ---- wire → model (the client) ----

function statusFromWire(field: string, v: unknown): 'up' | 'down' {
  return enumFromWire(field, v, STATUS_TO_WIRE);
}

function typeFromWire(field: string, v: unknown): CheckType {
  if (typeof v !== 'string' || !(CHECK_TYPES as readonly string[]).includes(v)) {
    throw new InvalidArgumentError(field, v, `must be one of ${CHECK_TYPES.join(', ')}`);
  }
  return v as CheckType;
}

function methodFromWire(field: string, v: unknown): ProbeMethod {
  if (typeof v !== 'string' || !(PROBE_METHODS as readonly string[]).includes(v)) {
    throw new InvalidArgumentError(field, v, `must be one of ${PROBE_METHODS.join(', ')}`);
  }
  return v as ProbeMethod;
}

function optionalWeight(field: string, v: unknown): number | undefined {
  return v === undefined || v === null ? undefined : checkWeight(field, v);
}

function checkFromWire(w: Received<HealthCheck__Output>, field: string): TargetStatus {
  const key = serviceKeyFromWire(w.service, `${field}.service`);
  const real = { address: checkAddress(`${field}.real_address`, w.real_address), port: checkRealPort(`${field}.real_port`, w.real_port) };
  const since = countFromWire(`${field}.since_ms`, w.since_ms);
  return {
    service: serviceId(key),
    service_key: key,
    real: realId(real),
    real_address: real.address,
    real_port: real.port,
    type: typeFromWire(`${field}.type`, w.type),
    address: checkAddress(`${field}.check_address`, w.check_address),
    port: checkRealPort(`${field}.check_port`, w.check_port),
    status: statusFromWire(`${field}.status`, w.status),
    since: since === 0 ? null : since,
    successes: w.successes,
    failures: w.failures,
    weight: optionalWeight(`${field}.reported_weight`, w.reported_weight),
    last: w.last_ok === undefined || w.last_ok === null
      ? undefined
      : { ok: w.last_ok, reason: w.last_reason, ms: w.last_ms, at: countFromWire(`${field}.last_at_ms`, w.last_at_ms) },
    counters: {
      probes_ok: countFromWire(`${field}.probes_ok`, w.probes_ok),
      probes_failed: countFromWire(`${field}.probes_failed`, w.probes_failed),
      probes_timed_out: countFromWire(`${field}.probes_timed_out`, w.probes_timed_out),
      went_up: countFromWire(`${field}.went_up`, w.went_up),
      went_down: countFromWire(`${field}.went_down`, w.went_down),
    },
    method: methodFromWire(`${field}.probe_method`, w.probe_method),
    ...(w.degraded ? { degraded: w.degraded } : {}),
  };
}

export function healthReportFromWire(w: Received<ListHealthResponse__Output>): HealthReport {
  if (!w.totals) throw new InvalidArgumentError('totals', w.totals, 'is required');
  const t = Object.fromEntries(TOTAL_KEYS.map((k) => [k, countFromWire(`totals.${k}`, w.totals![k])])) as Record<(typeof TOTAL_KEYS)[number], number>;
  const { checks, ...rest } = t;
  return {
    checks: w.checks.map((c, i) => checkFromWire(c, `checks[${i}]`)),
    services: w.services.map((s, i) => {
      const key = serviceKeyFromWire(s.service, `services[${i}].service`);
      return {
        service: serviceId(key),
        service_key: key,
        health: {
          healthyWeight: countFromWire(`services[${i}].healthy_weight`, s.healthy_weight),
          quorum: countFromWire(`services[${i}].quorum`, s.quorum),
          sorryActive: s.sorry_active === true,
        },
      };
    }),
    totals: { targets: checks, ...rest },
  };
}

export function healthEventFromWire(w: Received<HealthEvent__Output>): HealthEvent {
  const key = serviceKeyFromWire(w.service, 'event.service');
  const real = { address: checkAddress('event.real_address', w.real_address), port: checkRealPort('event.real_port', w.real_port) };
  return {
    at: Number(uint64FromWire('event.at_ms', w.at_ms)),
    service: serviceId(key),
    service_key: key,
    real: realId(real),
    real_address: real.address,
    real_port: real.port,
    type: typeFromWire('event.type', w.type),
    from: statusFromWire('event.from', w.from),
    to: statusFromWire('event.to', w.to),
    reason: w.reason,
    weight: optionalWeight('event.reported_weight', w.reported_weight),
  };
}
