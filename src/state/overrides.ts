// SPDX-License-Identifier: Apache-2.0
// Changes made at run time over the API (add/remove/reweight a real) sit on
// top of the config file and are saved to the state dir, so they survive a
// restart of the daemon and a reload of the config.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { realId, serviceId, type DesiredState, type RealSpec, type ServiceKey, type ServiceSpec } from '../model/types.js';
import { realCountProblem, realViolation } from '../model/rules.js';
import { checkAddress, checkMethod, checkRealPort, checkThreshold, checkWeight } from '../api/validate.js';
import { parseServiceString } from '../api/service-string.js';
import { InvalidArgumentError, StateFileError } from '../errors.js';
import { DurableFile } from './durable-file.js';

export type Override =
  | { op: 'set'; service: string; real: RealSpec }
  | { op: 'remove'; service: string; address: string; port: number };

export class Overrides {
  private list: Override[] = [];
  /** overrides.json, written durably with its previous version kept (durable-file.ts). */
  private readonly file: DurableFile<Override[]>;

  /** A damaged file falls back to overrides.json.prev with a warning; both damaged: E_STATE naming both. */
  constructor(stateDir: string, log: Pick<Logger, 'warn'> = fallbackLog) {
    mkdirSync(stateDir, { recursive: true });
    this.file = new DurableFile(join(stateDir, 'overrides.json'), parseOverrides, log);
    this.list = this.file.read() ?? [];
  }

  get entries(): readonly Override[] {
    return this.list;
  }

  /** The overrides with `o` added; nothing saved until commit(). Later ones on the same real win. */
  with(svc: ServiceKey, o: { real: RealSpec } | { address: string; port: number }): Override[] {
    const service = serviceId(svc);
    const next: Override = 'real' in o ? { op: 'set', service, real: o.real } : { op: 'remove', service, address: o.address, port: o.port };
    const rid = next.op === 'set' ? realId(next.real) : realId(next);
    return [...this.list.filter((x) => !(x.service === service && realId(x.op === 'set' ? x.real : x) === rid)), next];
  }

  commit(list: Override[]): void {
    this.file.write(JSON.stringify(list, null, 1));
    this.list = list;
  }
}

function parseOverrides(text: string, file: string): Override[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new StateFileError(file, `: not valid JSON: ${(e as Error).message}`);
  }
  return checkOverrides(file, data);
}

/**
 * Checks a saved override list field by field and returns it in the model's form (canonical
 * addresses and service ids, so "2001:DB8::0001" is the real "2001:db8::1"). A damaged file is
 * an error naming the entry's field and value, never half-used.
 */
function checkOverrides(file: string, data: unknown): Override[] {
  const fail = (where: string, value: unknown, reason: string): never => {
    throw new StateFileError(file, `${where}: ${reason} (got ${JSON.stringify(value)})`);
  };
  // The API's own field checks, so a saved override obeys what AddReal accepted.
  const read = <T>(where: string, value: unknown, check: (field: string, v: unknown) => T): T => {
    try {
      return check(where, value);
    } catch (e) {
      if (e instanceof InvalidArgumentError) throw new StateFileError(file, e.message, { cause: e });
      throw e;
    }
  };
  const threshold = (where: string, v: unknown): number => (v === undefined ? 0 : read(where, v, checkThreshold));
  if (!Array.isArray(data)) return fail('', data, 'must be a JSON array of overrides');
  return data.map((o: unknown, i): Override => {
    const at = `[${i}]`;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return fail(at, o, 'must be an object');
    const x = o as Record<string, unknown>;
    if (typeof x.service !== 'string') return fail(`${at}.service`, x.service, 'must be a service like tcp/203.0.113.100:80');
    const service = serviceId(read(`${at}.service`, x.service, (f, v) => parseServiceString(v as string, f)));
    if (x.op === 'set') {
      const r = x.real;
      if (typeof r !== 'object' || r === null || Array.isArray(r)) return fail(`${at}.real`, r, 'must be an object');
      const f = r as Record<string, unknown>;
      const real: RealSpec = {
        address: read(`${at}.real.address`, f.address, checkAddress),
        port: read(`${at}.real.port`, f.port, checkRealPort),
        weight: read(`${at}.real.weight`, f.weight, checkWeight),
        method: read(`${at}.real.method`, f.method, checkMethod),
        // Files written before thresholds existed have none: no threshold.
        upper_threshold: threshold(`${at}.real.upper_threshold`, f.upper_threshold),
        lower_threshold: threshold(`${at}.real.lower_threshold`, f.lower_threshold),
      };
      return { op: 'set', service, real };
    }
    if (x.op === 'remove') {
      return { op: 'remove', service, address: read(`${at}.address`, x.address, checkAddress), port: read(`${at}.port`, x.port, checkRealPort) };
    }
    return fail(`${at}.op`, x.op, 'must be "set" or "remove"');
  });
}

/** An override applyOverrides left out: `field` is relative to overrides.json[index]. */
export interface SkippedOverride {
  index: number;
  field: string;
  value: unknown;
  reason: string;
}

export interface AppliedOverrides {
  desired: DesiredState;
  skipped: SkippedOverride[];
}

/** "overrides.json[3].real.method: needs local_addresses.v4 ... (got \"tun\")". */
export function describeSkipped(s: SkippedOverride): string {
  return `overrides.json[${s.index}].${s.field}: ${s.reason} (got ${JSON.stringify(s.value)})`;
}

/**
 * Applies overrides to a desired state (pure). Overrides for services not in it wait for the
 * service to come back (no effect, not reported). A `set` is checked against its service as it
 * is now, with AddReal's rules (model/rules.ts): the config may have changed since it was
 * accepted (a tun real without local_addresses, a dr port the frontends no longer allow, one
 * real too many); such an override is left out and reported in `skipped`, the rest applies.
 */
export function overlayOverrides(base: DesiredState, list: readonly Override[]): AppliedOverrides {
  // Copy on write: a service no override touches stays the very object of `base`, which lets
  // the reconciler skip it by identity (10,000 services, one override: one service to diff).
  const services = base.services.slice();
  const at = new Map(services.map((s, i) => [serviceId(s), i]));
  const copied = new Set<number>();
  const touch = (id: string): ServiceSpec | undefined => {
    const i = at.get(id);
    if (i === undefined) return undefined;
    if (!copied.has(i)) {
      services[i] = { ...services[i]!, reals: [...services[i]!.reals] };
      copied.add(i);
    }
    return services[i];
  };
  const skipped: SkippedOverride[] = [];
  list.forEach((o, index) => {
    const s = touch(o.service);
    if (!s) return;
    if (o.op === 'remove') {
      s.reals = s.reals.filter((r) => realId(r) !== realId(o));
      return;
    }
    const v = realViolation(o.real, s, base.local);
    if (v !== undefined) {
      skipped.push({ index, field: `real.${v.field}`, value: v.value, reason: v.reason });
      return;
    }
    const i = s.reals.findIndex((r) => realId(r) === realId(o.real));
    if (i >= 0) {
      // An API change of weight or method keeps the real's own check from the config.
      const own = s.reals[i]!.check;
      s.reals[i] = own === undefined ? o.real : { ...o.real, check: own };
      return;
    }
    const problem = realCountProblem(s, s.reals.length + 1);
    if (problem !== undefined) {
      skipped.push({ index, field: 'real', value: realId(o.real), reason: problem });
      return;
    }
    s.reals.push(o.real);
  });
  return { desired: { ...base, services }, skipped };
}

/** Used when the caller passes no logger: the same stream and fields as xlvsd's own log. */
const fallbackLog = pino({ level: process.env.XLVS_LOG_LEVEL ?? 'info', base: { svc: 'xlvsd' } });

/** overlayOverrides, with a warning per skipped override naming overrides.json[i].<field>. */
export function applyOverrides(base: DesiredState, list: readonly Override[], log: Pick<Logger, 'warn'> = fallbackLog): DesiredState {
  const { desired, skipped } = overlayOverrides(base, list);
  for (const s of skipped) {
    log.warn({ override: `overrides.json[${s.index}].${s.field}`, value: s.value, reason: s.reason }, `override skipped: ${describeSkipped(s)}`);
  }
  return desired;
}
