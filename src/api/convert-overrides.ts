// SPDX-License-Identifier: Apache-2.0
// ListOverrides and ClearOverrides between the model (state/override-rules.ts) and the wire, and
// their rendering for `xlvsctl overrides`. The client decodes strictly: a field that does not
// fit is an error naming it.

import { InvalidArgumentError } from '../errors.js';
import type { ClearOverridesRequest__Output } from '../gen/proto/xlvs/v1/ClearOverridesRequest.js';
import type { Override__Output } from '../gen/proto/xlvs/v1/Override.js';
import type { OverrideOp__Output } from '../gen/proto/xlvs/v1/OverrideOp.js';
import { parseServiceString } from './service-string.js';
import { realId, serviceId, type RealSpec, type ServiceKey } from '../model/types.js';
import type { Override } from '../state/overrides.js';
import type { OverrideStatus } from '../state/override-rules.js';
import { enumFromWire, realFromWire, realToWire, serviceKeyFromWire, serviceKeyToWire } from './convert.js';
import type { Received } from './received.js';
import { checkAddress, checkRealPort } from './validate.js';

const OP_TO_WIRE: Record<Override['op'], OverrideOp__Output> = { set: 'OVERRIDE_OP_SET', remove: 'OVERRIDE_OP_REMOVE' };

/** An override on the wire: service, op, the real it sets or removes, the file's real. */
export function overrideToWire(s: OverrideStatus): Override__Output {
  const o = s.override;
  return {
    service: serviceKeyToWire(parseServiceString(o.service)),
    op: OP_TO_WIRE[o.op],
    real: o.op === 'set' ? realToWire(o.real) : { address: o.address, port: o.port, method: 'FORWARD_METHOD_UNSPECIFIED', upper_threshold: 0, lower_threshold: 0 },
    file: s.file === undefined ? null : realToWire(s.file),
  };
}

export function overrideFromWire(w: Received<Override__Output>, field: string): OverrideStatus {
  const service = serviceId(serviceKeyFromWire(w.service, `${field}.service`));
  const op = enumFromWire(`${field}.op`, w.op, OP_TO_WIRE);
  const file = w.file === null || w.file === undefined ? undefined : realFromWire(w.file, `${field}.file`);
  if (op === 'set') return { override: { op, service, real: realFromWire(w.real, `${field}.real`) }, file };
  if (w.real === null || w.real === undefined) throw new InvalidArgumentError(`${field}.real`, w.real, 'is required');
  const address = checkAddress(`${field}.real.address`, w.real.address);
  return { override: { op, service, address, port: checkRealPort(`${field}.real.port`, w.real.port) }, file };
}

export function overridesFromWire(list: Received<Override__Output>[], field: string): OverrideStatus[] {
  return list.map((w, i) => overrideFromWire(w, `${field}[${i}]`));
}

/** ClearOverrides' service: undefined (every service) when unset. */
export function clearOverridesFromWire(req: Received<ClearOverridesRequest__Output>): ServiceKey | undefined {
  return req.service === null || req.service === undefined ? undefined : serviceKeyFromWire(req.service);
}

const realText = (r: RealSpec): string =>
  `weight ${r.weight} ${r.method}${r.upper_threshold > 0 ? ` thresholds ${r.upper_threshold}/${r.lower_threshold}` : ''}`;

/** `xlvsctl overrides`: one line per override, what it does against what the file says. */
export function formatOverrides(list: readonly OverrideStatus[]): string {
  if (list.length === 0) return 'no API overrides: the config file applies as written\n';
  const rows = list.map(({ override: o, file }) => {
    const real = realId(o.op === 'set' ? o.real : o);
    const api = o.op === 'set' ? realText(o.real) : 'removed';
    return [o.service, real, api, file === undefined ? 'absent' : realText(file)];
  });
  const head = ['SERVICE', 'REAL', 'API', 'FILE'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]): string => cells.map((x, c) => (c === cells.length - 1 ? x : x.padEnd(widths[c]!))).join('  ');
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

/** JSON of `xlvsctl overrides --json`: the model's shape. */
export function overridesToJson(list: readonly OverrideStatus[]): unknown {
  return list.map(({ override, file }) => ({ ...override, file: file ?? null }));
}
