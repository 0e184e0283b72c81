// SPDX-License-Identifier: Apache-2.0
// Field-level checks shared by the gRPC server (wire input) and xlvsctl (command-line input).
// Each check either returns the value in model form or throws InvalidArgumentError naming
// the field and the value, so callers can validate a whole request before acting on it.

import { CapacityError, InvalidArgumentError } from '../errors.js';
import { canonicalAddress } from '../model/ip.js';
import {
  addressProblem, realCapacity, realCountProblem, realViolation, thresholdViolation, type RealContext, type RealCountContext,
} from '../model/rules.js';
import {
  MAX_REALS_PER_SERVICE, MAX_U32, METHODS, realId, serviceId,
  type ForwardMethod, type LocalAddresses, type Protocol, type RealSpec, type ServiceKey,
} from '../model/types.js';

/**
 * The longest address text taken: INET6_ADDRSTRLEN - 1, as
 * "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255". The proto documents it on each address field.
 */
export const MAX_ADDRESS_CHARS = 45;

/**
 * A string field's length, checked before anything parses it: a longer value is refused at
 * once, and quoted only in part (errors.ts quote()).
 */
export function checkLength(field: string, value: unknown, max: number): void {
  if (typeof value === 'string' && value.length > max) throw new InvalidArgumentError(field, value, `must be at most ${max} characters`);
}

/**
 * An IPv4 (strict dotted quad) or IPv6 address, returned in the model's canonical form
 * (RFC 5952), so "2001:DB8::0001" names the same real as "2001:db8::1".
 */
export function checkAddress(field: string, value: unknown): string {
  checkLength(field, value, MAX_ADDRESS_CHARS);
  const canonical = canonicalAddress(value);
  if (canonical === null) {
    throw new InvalidArgumentError(field, value, 'must be an IPv4 address like 10.0.0.1 or an IPv6 address like fd00::1');
  }
  const problem = addressProblem(canonical);
  if (problem !== undefined) throw new InvalidArgumentError(field, value, problem);
  return canonical;
}

function checkIntInRange(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, value, `must be an integer ${min}..${max}`);
  }
  return value;
}

/** A TCP/UDP port, 1..65535 (0 is not a port a service or real can use). */
export function checkPort(field: string, value: unknown): number {
  return checkIntInRange(field, value, 1, 65535);
}

/** A service key's port: 1..65535, or 0 for a service on every port. */
export function checkServicePort(field: string, value: unknown): number {
  return checkIntInRange(field, value, 0, 65535);
}

/** A real's port: 1..65535, or 0 = keep the client's destination port. */
export function checkRealPort(field: string, value: unknown): number {
  return checkIntInRange(field, value, 0, 65535);
}

/** An upper or lower connection threshold, 0..4294967295 (0 = none / default). */
export function checkThreshold(field: string, value: unknown): number {
  return checkIntInRange(field, value, 0, MAX_U32);
}

/** upper/lower as a pair: the rule the config applies too (model/rules.ts). */
export function checkThresholds(field: string, upper: number, lower: number): void {
  const v = thresholdViolation(upper, lower);
  if (v !== undefined) throw new InvalidArgumentError(`${field}.${v.field}`, v.value, v.reason);
}

/** What checkRealFitsService needs of the service a real joins (a ServiceSpec has it all). */
export interface ServiceFacts extends ServiceKey, RealContext, RealCountContext {
  reals: readonly { address: string; port: number }[];
}

/**
 * A real against the service it joins and the router's local addresses, with the config's
 * rules (model/rules.ts): family, dr/tun port, local address for tun/fullnat, thresholds; and,
 * for a real the service does not have yet, the number of reals it can hold (256, and an mh
 * table larger than its reals). Needs the service, so the daemon calls it; `field` prefixes
 * the reported field ("real").
 */
export function checkRealFitsService(field: string, real: RealSpec, svc: ServiceFacts, local: LocalAddresses): void {
  const v = realViolation(real, svc, local);
  if (v !== undefined) throw new InvalidArgumentError(`${field}.${v.field}`, v.value, v.reason);
  const id = realId(real);
  if (svc.reals.some((r) => realId(r) === id)) return;
  // A capacity, not a bad argument: the proto promises RESOURCE_EXHAUSTED for it.
  const count = svc.reals.length + 1;
  if (realCountProblem(svc, count) !== undefined) {
    const table = svc.scheduler === 'mh' && realCapacity(svc) < MAX_REALS_PER_SERVICE ? ` (mh_table_size ${svc.mh_table_size})` : '';
    throw new CapacityError(`reals in service ${serviceId(svc)}${table}`, realCapacity(svc), count);
  }
}

/** A real's weight, 0..65535; 0 quiesces the real. */
export function checkWeight(field: string, value: unknown): number {
  return checkIntInRange(field, value, 0, 65535);
}

/** A protocol name as used in the model and on the command line ("tcp" | "udp"). */
export function checkProtocol(field: string, value: unknown): Protocol {
  if (value === 'tcp' || value === 'udp') return value;
  throw new InvalidArgumentError(field, value, 'must be tcp or udp');
}

/** A forwarding method name as used in the model and on the command line. */
export function checkMethod(field: string, value: unknown): ForwardMethod {
  if ((METHODS as readonly unknown[]).includes(value)) return value as ForwardMethod;
  throw new InvalidArgumentError(field, value, `must be one of ${METHODS.join(', ')}`);
}

/**
 * A whole decimal number typed by a person (command line). Rejects "", "1e3", " 8", "0x50",
 * "+8" and "8.0", which Number() would all quietly accept, then range-checks it.
 */
export function parseDecimal(field: string, text: string, check: (field: string, value: unknown) => number): number {
  if (!/^[0-9]+$/.test(text)) throw new InvalidArgumentError(field, text, 'must be a whole decimal number');
  return check(field, Number(text));
}
