// SPDX-License-Identifier: Apache-2.0
// Whether the checks of a desired state can run as configured on this host. The config loader
// checked them against health.syn_checks as written; the daemon knows more: whether this host
// can run SYN checks at all (host/capabilities.ts). What only SYN checks can do (the VIP on a
// tun real, or over IPv6) fails with the reason rather than being probed another way.

import { InvalidArgumentError } from '../errors.js';
import { checkTargetProblem, type CheckSpec } from '../health/spec.js';
import type { CapabilityReport } from '../host/capabilities.js';
import { realId, serviceId, type DesiredState, type RealSpec, type ServiceSpec } from '../model/types.js';

/** What SYN checks are in this daemon: configured, running, and why not. */
export type SynChecks = CapabilityReport['synChecks'];

/** A check's problem, with the reason SYN checks are off when they were asked for. */
function checkProblem(check: CheckSpec, real: RealSpec, s: ServiceSpec, syn: SynChecks): { field: string; value: unknown; reason: string } | undefined {
  const p = checkTargetProblem(check, real, s, syn.running);
  if (p === undefined || syn.running === syn.configured) return p;
  return { ...p, reason: `${p.reason}; health.syn_checks is on, but this host cannot run SYN checks (${syn.problem})` };
}

/** A real added over the API must be checkable by its service's check, and not be its sorry server. */
export function checkRealFitsHealth(real: RealSpec, s: ServiceSpec, syn: SynChecks): void {
  if (s.sorry_server && realId(s.sorry_server) === realId(real)) {
    throw new InvalidArgumentError('real', realId(real), `is the sorry server of ${serviceId(s)}`);
  }
  const existing = s.reals.find((r) => realId(r) === realId(real));
  const check = existing?.check === undefined ? s.check : existing.check;
  const problem = check ? checkProblem(check, real, s, syn) : undefined;
  if (problem) throw new InvalidArgumentError(`real.${problem.field}`, problem.value ?? realId(real), `${problem.reason} (the service's health check)`);
}

/** Every check of `d` can run on this host; throws InvalidArgumentError naming the first that cannot. */
export function checkDesiredFitsHealth(d: DesiredState, syn: SynChecks): void {
  for (const s of d.services) {
    for (const r of s.reals) {
      const check = r.check === undefined ? s.check : r.check;
      const problem = check ? checkProblem(check, r, s, syn) : undefined;
      if (problem) throw new InvalidArgumentError(`${serviceId(s)} real ${realId(r)} check.${problem.field}`, problem.value ?? realId(r), problem.reason);
    }
  }
}
