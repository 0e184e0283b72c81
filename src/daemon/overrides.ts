// SPDX-License-Identifier: Apache-2.0
// Changes made at run time over the API (add/remove/reweight a real) sit on
// top of the config file and are saved to the state dir, so they survive a
// restart of the daemon and a reload of the config.

import { readFileSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  realId, serviceId, METHODS, MAX_U32, type DesiredState, type ForwardMethod, type RealSpec, type ServiceKey,
} from '../model/types.js';
import { canonicalAddress } from '../model/ip.js';
import { XlvsError } from '../errors.js';

export type Override =
  | { op: 'set'; service: string; real: RealSpec }
  | { op: 'remove'; service: string; address: string; port: number };

export class Overrides {
  private list: Override[] = [];
  private readonly file: string;

  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true });
    this.file = join(stateDir, 'overrides.json');
    let text: string | undefined;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (text !== undefined) {
      let data: unknown;
      try {
        data = JSON.parse(text);
      } catch (e) {
        throw new XlvsError('E_STATE', `${this.file}: not valid JSON: ${(e as Error).message}`);
      }
      this.list = checkOverrides(this.file, data);
    }
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
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(list, null, 1));
    renameSync(tmp, this.file);
    this.list = list;
  }
}

/** Checks the shape of a saved override list; a damaged file is an error, never half-used. */
function checkOverrides(file: string, data: unknown): Override[] {
  const bad = (where: string, v: unknown): never => {
    throw new XlvsError('E_STATE', `${file}: ${where}: not a valid override (got ${JSON.stringify(v)})`);
  };
  const port = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535;
  const u32 = (v: unknown) => v === undefined || (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_U32);
  const addr = (v: unknown) => canonicalAddress(v) !== null;
  if (!Array.isArray(data)) bad('(root)', data);
  (data as unknown[]).forEach((o, i) => {
    const x = o as Record<string, unknown> | null;
    if (!x || typeof x !== 'object' || typeof x.service !== 'string') return bad(`[${i}]`, o);
    if (x.op === 'set') {
      const r = x.real as Record<string, unknown> | null;
      if (!r || !addr(r.address) || !port(r.port) || !Number.isInteger(r.weight) || (r.weight as number) < 0 || (r.weight as number) > 65535 ||
        !METHODS.includes(r.method as ForwardMethod) || !u32(r.upper_threshold) || !u32(r.lower_threshold)) bad(`[${i}].real`, x.real);
      // Files written before thresholds existed have none: no threshold.
      r!.upper_threshold ??= 0;
      r!.lower_threshold ??= 0;
    } else if (x.op === 'remove') {
      if (!addr(x.address) || !port(x.port)) bad(`[${i}]`, o);
    } else {
      bad(`[${i}].op`, x.op);
    }
  });
  return data as Override[];
}

/** Applies overrides to a desired state (pure). Overrides for services not in it are skipped. */
export function applyOverrides(base: DesiredState, list: readonly Override[]): DesiredState {
  const services = base.services.map((s) => ({ ...s, reals: [...s.reals] }));
  const byId = new Map(services.map((s) => [serviceId(s), s]));
  for (const o of list) {
    const s = byId.get(o.service);
    if (!s) continue;
    if (o.op === 'set') {
      const i = s.reals.findIndex((r) => realId(r) === realId(o.real));
      if (i >= 0) s.reals[i] = o.real;
      else s.reals.push(o.real);
    } else {
      s.reals = s.reals.filter((r) => realId(r) !== realId(o));
    }
  }
  return { ...base, services };
}
