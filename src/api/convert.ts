// SPDX-License-Identifier: Apache-2.0
// Mapping between wire messages (generated from the proto into src/gen/proto/) and model types
// (model/types.ts), both ways.
//
// Wire → model conversion is also where requests are validated: each *FromWire function
// returns a fully checked model value or throws InvalidArgumentError naming the field path
// (e.g. "real.address") and value, and never returns a half-checked result. The server
// converts a whole request before calling ControlApi, so a bad field means nothing changed.
// The *ToWire functions build complete messages, typed as what the peer decodes (`__Output`),
// so no field can be left out.

import { InvalidArgumentError } from '../errors.js';
import type { AddRealRequest__Output } from '../gen/proto/xlvs/v1/AddRealRequest.js';
import type { AddressFamily__Output } from '../gen/proto/xlvs/v1/AddressFamily.js';
import type { Counters__Output } from '../gen/proto/xlvs/v1/Counters.js';
import type { ForwardMethod__Output } from '../gen/proto/xlvs/v1/ForwardMethod.js';
import type { Frontend__Output } from '../gen/proto/xlvs/v1/Frontend.js';
import type { HashOptions__Output } from '../gen/proto/xlvs/v1/HashOptions.js';
import type { HealthStatus__Output } from '../gen/proto/xlvs/v1/HealthStatus.js';
import type { Persistence__Output } from '../gen/proto/xlvs/v1/Persistence.js';
import type { Protocol__Output } from '../gen/proto/xlvs/v1/Protocol.js';
import type { Real__Output } from '../gen/proto/xlvs/v1/Real.js';
import type { RealStatus__Output } from '../gen/proto/xlvs/v1/RealStatus.js';
import type { RemoveRealRequest__Output } from '../gen/proto/xlvs/v1/RemoveRealRequest.js';
import type { Scheduler__Output } from '../gen/proto/xlvs/v1/Scheduler.js';
import type { ServiceKey__Output } from '../gen/proto/xlvs/v1/ServiceKey.js';
import type { ServiceStatus__Output } from '../gen/proto/xlvs/v1/ServiceStatus.js';
import { familyOf, maxPrefix } from '../model/ip.js';
import { mhTableSizeProblem } from '../model/rules.js';
import {
  MAX_TIMEOUT_S,
  type Counters,
  type Family,
  type ForwardMethod,
  type Frontend,
  type HashOptions,
  type Persistence,
  type Protocol,
  type RealSpec,
  type RealStatus,
  type SchedulerName,
  type ServiceKey,
  type ServiceStatus,
} from '../model/types.js';
import type { Received } from './received.js';
import { checkAddress, checkRealPort, checkServicePort, checkThreshold, checkThresholds, checkWeight } from './validate.js';

// Enum tables. UNSPECIFIED is deliberately absent: it means "not set" and is rejected.
const PROTOCOL_TO_WIRE: Record<Protocol, Protocol__Output> = { tcp: 'PROTOCOL_TCP', udp: 'PROTOCOL_UDP' };
const SCHEDULER_TO_WIRE: Record<SchedulerName, Scheduler__Output> = {
  rr: 'SCHEDULER_RR', wrr: 'SCHEDULER_WRR', lc: 'SCHEDULER_LC', wlc: 'SCHEDULER_WLC', lblc: 'SCHEDULER_LBLC',
  lblcr: 'SCHEDULER_LBLCR', dh: 'SCHEDULER_DH', sh: 'SCHEDULER_SH', sed: 'SCHEDULER_SED', nq: 'SCHEDULER_NQ',
  mh: 'SCHEDULER_MH', fo: 'SCHEDULER_FO', ovf: 'SCHEDULER_OVF',
};
const METHOD_TO_WIRE: Record<ForwardMethod, ForwardMethod__Output> = {
  nat: 'FORWARD_METHOD_NAT', dr: 'FORWARD_METHOD_DR', tun: 'FORWARD_METHOD_TUN', fullnat: 'FORWARD_METHOD_FULLNAT',
};
const FAMILY_TO_WIRE: Record<`${Family}`, AddressFamily__Output> = { 4: 'ADDRESS_FAMILY_IPV4', 6: 'ADDRESS_FAMILY_IPV6' };
/** A real's health; a real without a check is UNSPECIFIED on the wire. */
export const HEALTH_TO_WIRE: Record<RealStatus['health'], HealthStatus__Output> = {
  up: 'HEALTH_STATUS_UP', down: 'HEALTH_STATUS_DOWN', unchecked: 'HEALTH_STATUS_UNSPECIFIED',
};

export function enumFromWire<M extends string>(field: string, value: unknown, table: Record<M, string>): M {
  for (const [model, wire] of Object.entries(table) as [M, string][]) {
    if (value === wire) return model;
  }
  throw new InvalidArgumentError(field, value, `must be one of ${Object.values(table).join(', ')}`);
}

function required<T>(field: string, value: T | null | undefined): T {
  if (value === null || value === undefined) throw new InvalidArgumentError(field, value, 'is required');
  return value;
}

// ---- requests: wire → model (validating) ----

export function serviceKeyFromWire(w: Received<ServiceKey__Output> | null | undefined, field = 'service'): ServiceKey {
  const k = required(field, w);
  return {
    vip: checkAddress(`${field}.vip`, k.vip),
    port: checkServicePort(`${field}.port`, k.port),
    protocol: enumFromWire(`${field}.protocol`, k.protocol, PROTOCOL_TO_WIRE),
  };
}

export function realFromWire(w: Received<Real__Output> | null | undefined, field = 'real'): RealSpec {
  const r = required(field, w);
  if (r.weight === undefined || r.weight === null) {
    // proto3 would otherwise read a forgotten weight as 0 and quiesce the real.
    throw new InvalidArgumentError(`${field}.weight`, r.weight, 'is required (0 quiesces the real)');
  }
  const real: RealSpec = {
    address: checkAddress(`${field}.address`, r.address),
    port: checkRealPort(`${field}.port`, r.port),
    weight: checkWeight(`${field}.weight`, r.weight),
    method: enumFromWire(`${field}.method`, r.method, METHOD_TO_WIRE),
    upper_threshold: checkThreshold(`${field}.upper_threshold`, r.upper_threshold),
    lower_threshold: checkThreshold(`${field}.lower_threshold`, r.lower_threshold),
  };
  checkThresholds(field, real.upper_threshold, real.lower_threshold);
  return real;
}

/**
 * The rules that need only the request are checked here (the real's family against the
 * service's VIP included); those that need the whole service and the router's local addresses
 * (dr/tun port, tun/fullnat local address) are the daemon's, with checkRealFitsService.
 */
export function addRealFromWire(req: Received<AddRealRequest__Output>): { service: ServiceKey; real: RealSpec } {
  const service = serviceKeyFromWire(req.service);
  const real = realFromWire(req.real);
  const family = familyOf(service.vip);
  if (familyOf(real.address) !== family) {
    throw new InvalidArgumentError('real.address', real.address, `must be an IPv${family} address like the service's VIP`);
  }
  return { service, real };
}

export function removeRealFromWire(req: Received<RemoveRealRequest__Output>): { service: ServiceKey; address: string; port: number } {
  return {
    service: serviceKeyFromWire(req.service),
    address: checkAddress('address', req.address),
    port: checkRealPort('port', req.port),
  };
}

// ---- model → wire ----

export function serviceKeyToWire(k: ServiceKey): ServiceKey__Output {
  return { vip: k.vip, port: k.port, protocol: PROTOCOL_TO_WIRE[k.protocol] };
}

export function realToWire(r: RealSpec): Real__Output {
  return {
    address: r.address,
    port: r.port,
    weight: r.weight,
    method: METHOD_TO_WIRE[r.method],
    upper_threshold: r.upper_threshold,
    lower_threshold: r.lower_threshold,
  };
}

function frontendToWire(f: Frontend): Frontend__Output {
  return { vip: f.vip, port: f.port, protocol: PROTOCOL_TO_WIRE[f.protocol] };
}

export function countersToWire(c: Counters): Counters__Output {
  return {
    packets_in: c.packets_in.toString(),
    bytes_in: c.bytes_in.toString(),
    packets_out: c.packets_out.toString(),
    bytes_out: c.bytes_out.toString(),
    conns: c.conns.toString(),
  };
}

export function serviceStatusToWire(s: ServiceStatus): ServiceStatus__Output {
  return {
    key: serviceKeyToWire(s),
    scheduler: SCHEDULER_TO_WIRE[s.scheduler],
    reals: s.reals.map(
      (r): RealStatus__Output => ({
        real: realToWire(r),
        counters: countersToWire(r.counters),
        active_conns: String(r.active_conns),
        inactive_conns: String(r.inactive_conns),
        health: HEALTH_TO_WIRE[r.health],
        effective_weight: r.effective_weight,
        sorry: r.sorry,
      }),
    ),
    counters: countersToWire(s.counters),
    family: FAMILY_TO_WIRE[s.family],
    frontends: s.frontends.map(frontendToWire),
    persistence: s.persistence === undefined ? null : { timeout: s.persistence.timeout, netmask: s.persistence.netmask },
    hash: { fallback: s.hash.fallback, port: s.hash.port },
    mh_table_size: s.mh_table_size,
  };
}

export function dropsToWire(d: Record<string, bigint>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [reason, n] of Object.entries(d)) out[reason] = n.toString();
  return out;
}

// ---- responses: wire → model (client side) ----
// Responses come from our own daemon, but a different version may be on the other end; a value
// the model cannot represent is reported with its path rather than passed on malformed.

/** A uint64 decimal string as sent with longs: String. BigInt('') would be 0n, hence the regex. */
export function uint64FromWire(field: string, value: unknown): bigint {
  if (typeof value !== 'string' || !/^[0-9]+$/.test(value)) {
    throw new InvalidArgumentError(field, value, 'must be a decimal uint64 string');
  }
  return BigInt(value);
}

export function countersFromWire(w: Received<Counters__Output> | null | undefined, field: string): Counters {
  const c = required(field, w);
  return {
    packets_in: uint64FromWire(`${field}.packets_in`, c.packets_in),
    bytes_in: uint64FromWire(`${field}.bytes_in`, c.bytes_in),
    packets_out: uint64FromWire(`${field}.packets_out`, c.packets_out),
    bytes_out: uint64FromWire(`${field}.bytes_out`, c.bytes_out),
    conns: uint64FromWire(`${field}.conns`, c.conns),
  };
}

/** A connection count: uint64 on the wire, a number in the model (exact up to 2^53). */
export function countFromWire(field: string, value: unknown): number {
  const n = uint64FromWire(field, value);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidArgumentError(field, value, 'is beyond 2^53');
  return Number(n);
}

function frontendFromWire(w: Received<Frontend__Output>, field: string): Frontend {
  return {
    vip: checkAddress(`${field}.vip`, w.vip),
    port: checkServicePort(`${field}.port`, w.port),
    protocol: enumFromWire(`${field}.protocol`, w.protocol, PROTOCOL_TO_WIRE),
  };
}

function persistenceFromWire(w: Received<Persistence__Output>, field: string, family: Family): Persistence {
  const range = (f: string, v: unknown, max: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < (f === 'timeout' ? 1 : 0) || v > max) {
      throw new InvalidArgumentError(`${field}.${f}`, v, `must be an integer ${f === 'timeout' ? 1 : 0}..${max}`);
    }
    return v;
  };
  return { timeout: range('timeout', w.timeout, MAX_TIMEOUT_S), netmask: range('netmask', w.netmask, maxPrefix(family)) };
}

function hashFromWire(w: Received<HashOptions__Output> | null, field: string): HashOptions {
  const h = required(field, w);
  if (typeof h.fallback !== 'boolean' || typeof h.port !== 'boolean') {
    throw new InvalidArgumentError(field, h, 'must have boolean fallback and port');
  }
  return { fallback: h.fallback, port: h.port };
}

export function serviceStatusFromWire(w: Received<ServiceStatus__Output>, field: string): ServiceStatus {
  const reals = w.reals.map((r, i): RealStatus => {
    const f = `${field}.reals[${i}]`;
    return {
      ...realFromWire(r.real, `${f}.real`),
      counters: countersFromWire(r.counters, `${f}.counters`),
      active_conns: countFromWire(`${f}.active_conns`, r.active_conns),
      inactive_conns: countFromWire(`${f}.inactive_conns`, r.inactive_conns),
      health: enumFromWire(`${f}.health`, r.health, HEALTH_TO_WIRE),
      effective_weight: checkWeight(`${f}.effective_weight`, r.effective_weight),
      sorry: r.sorry === true,
    };
  });
  const key = serviceKeyFromWire(w.key, `${field}.key`);
  const family = Number(enumFromWire(`${field}.family`, w.family, FAMILY_TO_WIRE)) as Family;
  const frontends = w.frontends.map((f, i) => frontendFromWire(f, `${field}.frontends[${i}]`));
  if (frontends.length === 0) throw new InvalidArgumentError(`${field}.frontends`, [], 'must hold at least the key');
  const mhProblem = mhTableSizeProblem(w.mh_table_size);
  if (mhProblem !== undefined) throw new InvalidArgumentError(`${field}.mh_table_size`, w.mh_table_size, mhProblem);
  const status: ServiceStatus = {
    ...key,
    family,
    frontends,
    scheduler: enumFromWire(`${field}.scheduler`, w.scheduler, SCHEDULER_TO_WIRE),
    hash: hashFromWire(w.hash, `${field}.hash`),
    mh_table_size: w.mh_table_size,
    reals,
    counters: countersFromWire(w.counters, `${field}.counters`),
  };
  if (w.persistence !== null && w.persistence !== undefined) {
    status.persistence = persistenceFromWire(w.persistence, `${field}.persistence`, family);
  }
  return status;
}

export function dropsFromWire(w: Record<string, string>): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const [reason, n] of Object.entries(w)) out[reason] = uint64FromWire(`drops.${reason}`, n);
  return out;
}
