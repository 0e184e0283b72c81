// SPDX-License-Identifier: Apache-2.0
// The rules that tie a real to its service and the router, shared by the config loader and the
// API so that a real refused in a config file is refused over gRPC with the same reason.
// Each check returns a Violation (the real's field, the value, the reason) or undefined; the
// caller turns it into its own error (a positioned ConfigError, an InvalidArgumentError).

import { familyOf, isV4Mapped } from './ip.js';
import { isPrime } from './math.js';
import {
  LOCAL_ADDRESS_METHODS, MAX_MH_TABLE_SIZE, MAX_REALS_PER_SERVICE, PORT_KEEPING_METHODS,
  type Family, type ForwardMethod, type Frontend, type LocalAddresses, type RealSpec, type SchedulerName,
} from './types.js';

/** What is wrong with one field of a real (field is the RealSpec key). */
export interface Violation {
  field: keyof RealSpec;
  value: unknown;
  reason: string;
}

/** The service facts a real is checked against. */
export interface RealContext {
  family: Family;
  frontends: readonly Frontend[];
}

/** Distinct frontend ports, in first-seen order (0 = every port). */
export function frontendPorts(frontends: readonly Frontend[]): number[] {
  return [...new Set(frontends.map((f) => f.port))];
}

/**
 * The port a real gets when none is written: the service's port if it has exactly one specific
 * port; otherwise, and always for dr/tun (which cannot change it), 0 = keep the client's port.
 */
export function defaultRealPort(method: ForwardMethod, frontends: readonly Frontend[]): number {
  if (PORT_KEEPING_METHODS.includes(method)) return 0;
  const ports = frontendPorts(frontends);
  return ports.length === 1 ? ports[0]! : 0;
}

/** Why `address` cannot be used as a VIP, real or local address (undefined = it can). */
export function addressProblem(address: string): string | undefined {
  // An IPv6 packet never carries ::ffff:a.b.c.d; the data plane would see IPv4 instead.
  if (isV4Mapped(address)) return 'is an IPv4-mapped IPv6 address: write the IPv4 address';
  return undefined;
}

/** dr/tun deliver the packet as the client sent it, so the real's port is the frontend's. */
function portViolation(real: RealSpec, ctx: RealContext): Violation | undefined {
  if (!PORT_KEEPING_METHODS.includes(real.method) || real.port === 0) return undefined;
  const ports = frontendPorts(ctx.frontends);
  if (ports.length === 1 && ports[0] === real.port) return undefined;
  const allowed = ports.length === 1 && ports[0] !== 0 ? `0 (keep) or ${ports[0]}` : '0 (keep)';
  const spans = ports.length === 1 ? (ports[0] === 0 ? 'every port' : `port ${ports[0]}`) : `ports ${ports.join(', ')}`;
  return {
    field: 'port',
    value: real.port,
    reason: `must be ${allowed}: ${real.method} cannot change the destination port and the service answers on ${spans}`,
  };
}

function localViolation(real: RealSpec, family: Family, local: LocalAddresses): Violation | undefined {
  if (!LOCAL_ADDRESS_METHODS.includes(real.method)) return undefined;
  const key = family === 4 ? 'v4' : 'v6';
  if (local[key] !== undefined) return undefined;
  const role = real.method === 'tun' ? 'the tunnel source' : 'the source NAT address';
  return { field: 'method', value: real.method, reason: `needs local_addresses.${key} (${role}), which is not set` };
}

/** IPVS: an upper threshold stops new flows; the lower one (0 = 3/4 of upper) resumes them. */
export function thresholdViolation(upper: number, lower: number): Violation | undefined {
  if (lower === 0) return undefined;
  if (upper === 0) {
    return { field: 'lower_threshold', value: lower, reason: 'needs an upper_threshold (0 = none is set)' };
  }
  if (lower > upper) {
    return { field: 'lower_threshold', value: lower, reason: `must be <= upper_threshold (${upper})` };
  }
  return undefined;
}

/**
 * Everything about a real that depends on its service and the router: family, port under
 * dr/tun, local address for tun/fullnat, thresholds. Field syntax is the caller's job.
 */
export function realViolation(real: RealSpec, ctx: RealContext, local: LocalAddresses): Violation | undefined {
  const family = familyOf(real.address);
  if (family !== ctx.family) {
    return { field: 'address', value: real.address, reason: `must be an IPv${ctx.family} address like the service's VIP` };
  }
  return portViolation(real, ctx) ?? localViolation(real, ctx.family, local) ?? thresholdViolation(real.upper_threshold, real.lower_threshold);
}

/** Why `n` is not a usable Maglev table size (undefined = it is). */
export function mhTableSizeProblem(n: number): string | undefined {
  if (!Number.isInteger(n) || n < 2 || n > MAX_MH_TABLE_SIZE) return `must be a prime 2..${MAX_MH_TABLE_SIZE}`;
  if (!isPrime(n)) return `must be a prime 2..${MAX_MH_TABLE_SIZE} (Maglev needs a prime table size)`;
  return undefined;
}

/**
 * Why an mh table of `size` slots cannot serve `reals` reals (undefined = it can). Maglev gives
 * every real at least one slot, so the table must be larger than the number of reals (IPVS
 * refuses more dests than slots); every real counts, as a weight-0 one may get a weight back.
 */
export function mhTableFitProblem(size: number, reals: number): string | undefined {
  if (size > reals) return undefined;
  return `must be larger than the number of reals (${reals}): Maglev gives each real at least one slot`;
}

/** The service facts that limit how many reals it can hold. */
export interface RealCountContext {
  scheduler: SchedulerName;
  mh_table_size: number;
}

/** How many reals a service can hold: the data plane's per-service limit; for mh, fewer than its table's slots. */
export function realCapacity(svc: RealCountContext): number {
  return svc.scheduler === 'mh' ? Math.min(MAX_REALS_PER_SERVICE, svc.mh_table_size - 1) : MAX_REALS_PER_SERVICE;
}

/**
 * Why a service cannot hold `count` reals (undefined = it can): the data plane's per-service
 * limit, and for mh a table larger than the number of reals. Checked before anything is written,
 * so a service never fails half-way inside the reconciler.
 */
export function realCountProblem(svc: RealCountContext, count: number): string | undefined {
  if (count > MAX_REALS_PER_SERVICE) return `too many reals: a service has at most ${MAX_REALS_PER_SERVICE}`;
  if (svc.scheduler === 'mh' && mhTableFitProblem(svc.mh_table_size, count) !== undefined) {
    return `too many reals for mh_table_size ${svc.mh_table_size}: the table must be larger than the number of reals (${count})`;
  }
  return undefined;
}
