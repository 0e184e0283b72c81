// SPDX-License-Identifier: Apache-2.0
// What a configured health check (model/check.ts) means for one real: its identity across
// reloads, where its probes go, and whether it can check that real at all. The config file
// produces the checks (config/check.ts); the health manager turns each into one probe per real.

import { familyOf } from '../model/ip.js';
import type { CheckSpec } from '../model/check.js';

export { CHECK_TYPES, type CheckSpec, type CheckType, type RemoveFlows } from '../model/check.js';

/** A stable text of a check, to tell whether a reload changed it (then its state starts over). */
export function checkKey(c: CheckSpec): string {
  return JSON.stringify([c.type, c.options, c.remove_flows, c.address ?? null, c.port ?? null, c.params]);
}

/**
 * Where a check of `real` of `service` goes: the check's own address and port where given (the
 * service's VIP for `address: vip`), else the real's; a port-0 real checked at the VIP uses the
 * service's port.
 */
export function checkDestination(check: CheckSpec, real: { address: string; port: number }, service: { vip: string; port: number }): { address: string; port: number } {
  if (check.vip) return { address: service.vip, port: check.port ?? (real.port || service.port) };
  return { address: check.address ?? real.address, port: check.port ?? real.port };
}

/**
 * Why `check` cannot check `real` of a service of `family` (undefined = it can): the check
 * address must be of the service's family, and a real that keeps the client's port (port 0)
 * has no port to check unless the check names one (exec gets the port as an argument only).
 * The VIP is checked on dr and tun reals of either family by the data plane's SYN checks
 * (health.syn_checks); without them, on dr reals of IPv4 services through a steered socket.
 */
export function checkTargetProblem(
  check: CheckSpec,
  real: { address: string; port: number; method: string },
  service: { vip: string; port: number; family: 4 | 6 },
  synChecks: boolean,
): { field: 'address' | 'port'; value: unknown; reason: string } | undefined {
  const family = service.family;
  if (check.address !== undefined && familyOf(check.address) !== family) {
    return { field: 'address', value: check.address, reason: `must be an IPv${family} address like the service's VIP` };
  }
  if (check.vip && synChecks && real.method !== 'dr' && real.method !== 'tun') {
    return { field: 'address', value: 'vip', reason: `checks the VIP on dr and tun reals only (real ${real.address} is ${real.method}, which does not hold the VIP); check the real's own address instead` };
  }
  if (check.vip && !synChecks && (family !== 4 || real.method !== 'dr')) {
    return { field: 'address', value: 'vip', reason: `checks the VIP on dr reals of IPv4 services only with health.syn_checks false (real ${real.address} is ${real.method}, IPv${family}); check the real's own address instead` };
  }
  if (check.type !== 'exec' && checkDestination(check, real, service).port === 0) {
    return { field: 'port', value: undefined, reason: `required: real ${real.address} keeps the client's port (port 0), so the check needs its own port` };
  }
  return undefined;
}
