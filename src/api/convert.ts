// SPDX-License-Identifier: Apache-2.0
// Mapping between wire messages (wire.ts) and model types (model/types.ts), both ways.
//
// Wire → model conversion is also where requests are validated: each *FromWire function
// returns a fully checked model value or throws InvalidArgumentError naming the field path
// (e.g. "real.address") and value, and never returns a half-checked result. The server
// converts a whole request before calling ControlApi, so a bad field means nothing changed.

import { InvalidArgumentError } from '../errors.js';
import type {
  Counters,
  ForwardMethod,
  Protocol,
  RealSpec,
  RealStatus,
  SchedulerName,
  ServiceKey,
  ServiceStatus,
} from '../model/types.js';
import { checkIPv4, checkPort, checkWeight } from './validate.js';
import type {
  AddRealRequest,
  RemoveRealRequest,
  WireCounters,
  WireEnum,
  WireForwardMethod,
  WireProtocol,
  WireReal,
  WireRealStatus,
  WireScheduler,
  WireServiceKey,
  WireServiceStatus,
} from './wire.js';

// Enum tables. UNSPECIFIED is deliberately absent: it means "not set" and is rejected.
const PROTOCOL_TO_WIRE: Record<Protocol, WireProtocol> = { tcp: 'PROTOCOL_TCP', udp: 'PROTOCOL_UDP' };
const SCHEDULER_TO_WIRE: Record<SchedulerName, WireScheduler> = { rr: 'SCHEDULER_RR', wrr: 'SCHEDULER_WRR' };
const METHOD_TO_WIRE: Record<ForwardMethod, WireForwardMethod> = { nat: 'FORWARD_METHOD_NAT' };

function enumFromWire<M extends string>(field: string, value: unknown, table: Record<M, string>): M {
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

export function serviceKeyFromWire(w: WireServiceKey | null | undefined, field = 'service'): ServiceKey {
  const k = required(field, w);
  return {
    vip: checkIPv4(`${field}.vip`, k.vip),
    port: checkPort(`${field}.port`, k.port),
    protocol: enumFromWire(`${field}.protocol`, k.protocol, PROTOCOL_TO_WIRE),
  };
}

export function realFromWire(w: WireReal | null | undefined, field = 'real'): RealSpec {
  const r = required(field, w);
  if (r.weight === undefined || r.weight === null) {
    // proto3 would otherwise read a forgotten weight as 0 and quiesce the real.
    throw new InvalidArgumentError(`${field}.weight`, r.weight, 'is required (0 quiesces the real)');
  }
  return {
    address: checkIPv4(`${field}.address`, r.address),
    port: checkPort(`${field}.port`, r.port),
    weight: checkWeight(`${field}.weight`, r.weight),
    method: enumFromWire(`${field}.method`, r.method, METHOD_TO_WIRE),
  };
}

export function addRealFromWire(req: AddRealRequest): { service: ServiceKey; real: RealSpec } {
  return { service: serviceKeyFromWire(req.service), real: realFromWire(req.real) };
}

export function removeRealFromWire(req: RemoveRealRequest): { service: ServiceKey; address: string; port: number } {
  return {
    service: serviceKeyFromWire(req.service),
    address: checkIPv4('address', req.address),
    port: checkPort('port', req.port),
  };
}

// ---- model → wire ----

export function serviceKeyToWire(k: ServiceKey): WireServiceKey {
  return { vip: k.vip, port: k.port, protocol: PROTOCOL_TO_WIRE[k.protocol] };
}

export function realToWire(r: RealSpec): WireReal {
  return { address: r.address, port: r.port, weight: r.weight, method: METHOD_TO_WIRE[r.method] };
}

export function countersToWire(c: Counters): WireCounters {
  return {
    packets_in: c.packets_in.toString(),
    bytes_in: c.bytes_in.toString(),
    packets_out: c.packets_out.toString(),
    bytes_out: c.bytes_out.toString(),
    conns: c.conns.toString(),
  };
}

export function serviceStatusToWire(s: ServiceStatus): WireServiceStatus {
  return {
    key: serviceKeyToWire(s),
    scheduler: SCHEDULER_TO_WIRE[s.scheduler],
    reals: s.reals.map((r): WireRealStatus => ({ real: realToWire(r), counters: countersToWire(r.counters) })),
    counters: countersToWire(s.counters),
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

export function countersFromWire(w: WireCounters | null | undefined, field: string): Counters {
  const c = required(field, w);
  return {
    packets_in: uint64FromWire(`${field}.packets_in`, c.packets_in),
    bytes_in: uint64FromWire(`${field}.bytes_in`, c.bytes_in),
    packets_out: uint64FromWire(`${field}.packets_out`, c.packets_out),
    bytes_out: uint64FromWire(`${field}.bytes_out`, c.bytes_out),
    conns: uint64FromWire(`${field}.conns`, c.conns),
  };
}

export function serviceStatusFromWire(w: WireServiceStatus, field: string): ServiceStatus {
  const reals = w.reals.map((r, i): RealStatus => {
    const f = `${field}.reals[${i}]`;
    return { ...realFromWire(r.real, `${f}.real`), counters: countersFromWire(r.counters, `${f}.counters`) };
  });
  return {
    ...serviceKeyFromWire(w.key, `${field}.key`),
    scheduler: enumFromWire(`${field}.scheduler`, w.scheduler, SCHEDULER_TO_WIRE),
    reals,
    counters: countersFromWire(w.counters, `${field}.counters`),
  };
}

export function dropsFromWire(w: Record<string, string>): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const [reason, n] of Object.entries(w)) out[reason] = uint64FromWire(`drops.${reason}`, n);
  return out;
}
