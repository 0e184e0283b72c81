// SPDX-License-Identifier: Apache-2.0
// What an API change (an override on top of the config file) is worth, and when it goes (pure).
//
// The rules, as the README states them:
//  - An override lives only while it changes something: a `set` equal to the config's real
//    (address, port, weight, method, thresholds), a `remove` of a real the config does not
//    have, and any override of a service the config no longer has, are dropped: after every API
//    change and every reload.
//  - An override that stays wins over the file. When a reload changes the file for a real an
//    override covers, the change has no effect: the reload reports each such override by name,
//    and `xlvsctl overrides clear [SERVICE]` gives the file back its say.

import { realId, serviceId, type DesiredState, type RealSpec, type ServiceSpec } from '../model/types.js';
import type { Override } from './overrides.js';

/** Why an override was dropped. */
export type DropReason = 'it equals the config' | 'it removes a real the config does not have' | 'its service is not in the config';

export interface Dropped {
  override: Override;
  why: DropReason;
}

/** An override whose real the reloaded file changed: the file's change has no effect. */
export interface Shadow {
  override: Override;
  /** The real in the file before and after the reload (undefined: not there). */
  before: RealSpec | undefined;
  after: RealSpec | undefined;
}

const realOf = (o: Override): string => realId(o.op === 'set' ? o.real : o);

/** The fields an API change sets: equal in these, a `set` changes nothing. */
function sameApiFields(a: RealSpec, b: RealSpec): boolean {
  return a.weight === b.weight && a.method === b.method && a.upper_threshold === b.upper_threshold && a.lower_threshold === b.lower_threshold;
}

function servicesById(d: DesiredState): Map<string, ServiceSpec> {
  return new Map(d.services.map((s) => [serviceId(s), s]));
}

const realIn = (s: ServiceSpec | undefined, rid: string): RealSpec | undefined => s?.reals.find((r) => realId(r) === rid);

/**
 * The overrides that still change something on top of `config`, in order, and those dropped.
 * Judged against the config alone plus the overrides before each one (a later override on the
 * same real has replaced an earlier one already: Overrides.with keeps one per real).
 */
export function settleOverrides(config: DesiredState, list: readonly Override[]): { kept: Override[]; dropped: Dropped[] } {
  const byId = servicesById(config);
  const kept: Override[] = [];
  const dropped: Dropped[] = [];
  for (const o of list) {
    const s = byId.get(o.service);
    if (s === undefined) {
      dropped.push({ override: o, why: 'its service is not in the config' });
      continue;
    }
    const have = realIn(s, realOf(o));
    if (o.op === 'set' && have !== undefined && sameApiFields(have, o.real)) dropped.push({ override: o, why: 'it equals the config' });
    else if (o.op === 'remove' && have === undefined) dropped.push({ override: o, why: 'it removes a real the config does not have' });
    else kept.push(o);
  }
  return { kept, dropped };
}

/** The overrides (kept after a reload) whose real the file changed between `before` and `after`. */
export function shadowedChanges(before: DesiredState, after: DesiredState, list: readonly Override[]): Shadow[] {
  const was = servicesById(before);
  const now = servicesById(after);
  const out: Shadow[] = [];
  for (const o of list) {
    const rid = realOf(o);
    const b = realIn(was.get(o.service), rid);
    const a = realIn(now.get(o.service), rid);
    const changed = b === undefined || a === undefined ? b !== a : !sameApiFields(b, a);
    if (changed) out.push({ override: o, before: b, after: a });
  }
  return out;
}

/** An override as listed: what it does, and what the config file says of its real. */
export interface OverrideStatus {
  override: Override;
  /** The real in the config file (undefined: the file does not have it). */
  file: RealSpec | undefined;
}

/** The overrides in force, each with the config file's real beside it. */
export function overrideStatuses(config: DesiredState, list: readonly Override[]): OverrideStatus[] {
  const byId = servicesById(config);
  return list.map((o) => ({ override: o, file: realIn(byId.get(o.service), realOf(o)) }));
}

/** One line for a log or the CLI: what the override does. */
export function describeOverride(o: Override): string {
  return o.op === 'set'
    ? `${o.service}: set ${realId(o.real)} weight ${o.real.weight} ${o.real.method}${o.real.upper_threshold ? ` thresholds ${o.real.upper_threshold}/${o.real.lower_threshold}` : ''}`
    : `${o.service}: remove ${realId(o)}`;
}

/** How a shadowed change reads in the reload's log. */
export function describeShadow(s: Shadow): string {
  const side = (r: RealSpec | undefined): string => (r === undefined ? 'absent' : `weight ${r.weight} ${r.method}`);
  return `the file changes ${realOf(s.override)} of ${s.override.service} (${side(s.before)} -> ${side(s.after)}) but an API override keeps it (${describeOverride(s.override)}); xlvsctl overrides clear ${s.override.service} gives the file its say`;
}
