// SPDX-License-Identifier: Apache-2.0
// The `reals` of a service: read field by field first, then finished once the service (its
// frontends, family) and the router's local addresses are known, because a real's default
// port and several of its rules depend on them.

import type { Node } from 'yaml';
import { defaultRealPort, realViolation, type RealContext } from '../model/rules.js';
import {
  DEFAULT_METHOD, MAX_REALS_PER_SERVICE, MAX_U32, METHODS, realId,
  type ForwardMethod, type LocalAddresses, type RealSpec,
} from '../model/types.js';
import { readAddress } from './address.js';
import { readCheck } from './check.js';
import type { CheckSpec } from '../health/spec.js';
import { type Walker, childPath, itemPath } from './yaml-walk.js';

/** A real as read: written fields keep their node, so later checks can point at them. */
export interface RawReal {
  path: string;
  site: Node; // the list item as written (an alias, if it is one)
  node: Node; // the real's mapping
  address: string;
  port?: number;
  weight: number;
  method: ForwardMethod;
  upper_threshold: number;
  lower_threshold: number;
  /** undefined: not written (the service's check applies); null: `check: none`. */
  check?: CheckSpec | null;
  nodes: Partial<Record<keyof RealSpec, Node>>;
}

export function readReal(w: Walker, node: Node, path: string, site: Node): RawReal {
  const r: RawReal = {
    path, site, node, address: '', weight: 1, method: DEFAULT_METHOD, upper_threshold: 0, lower_threshold: 0, nodes: {},
  };
  const at = (k: keyof RealSpec, read: (n: Node, p: string) => void) => (n: Node, p: string) => {
    r.nodes[k] = n;
    read(n, p);
  };
  w.fields(
    node,
    path,
    {
      address: at('address', (n, p) => (r.address = readAddress(w, n, p))),
      port: at('port', (n, p) => (r.port = w.int(n, p, 0, 65535, 'must be an integer 0..65535 (0 = keep the client\'s port)'))),
      weight: at('weight', (n, p) => (r.weight = w.int(n, p, 0, 65535))),
      method: at('method', (n, p) => (r.method = w.oneOf(n, p, METHODS))),
      upper_threshold: at('upper_threshold', (n, p) => (r.upper_threshold = w.int(n, p, 0, MAX_U32))),
      lower_threshold: at('lower_threshold', (n, p) => (r.lower_threshold = w.int(n, p, 0, MAX_U32))),
      check: at('check', (n, p) => (r.check = readCheck(w, n, p, true))),
    },
    ['address'],
  );
  return r;
}

/**
 * Defaults each real's port, then applies the rules in list order: at most 256 reals, no
 * repeated address:port, and realViolation (family, dr/tun port, local address, thresholds).
 * An error points at the offending field when it was written, else at the real.
 */
export function finishReals(
  w: Walker,
  path: string,
  raw: readonly RawReal[],
  ctx: RealContext,
  local: LocalAddresses,
): RealSpec[] {
  const firstIndex = new Map<string, number>();
  return raw.map((r, i) => {
    const real: RealSpec = {
      address: r.address,
      port: r.port ?? defaultRealPort(r.method, ctx.frontends),
      weight: r.weight,
      method: r.method,
      upper_threshold: r.upper_threshold,
      lower_threshold: r.lower_threshold,
    };
    const id = realId(real);
    if (i >= MAX_REALS_PER_SERVICE) w.fail(r.site, r.path, id, `too many reals: a service has at most ${MAX_REALS_PER_SERVICE}`);
    const first = firstIndex.get(id);
    if (first !== undefined) {
      w.fail(r.site, r.path, id, `duplicate real: same address and port as ${itemPath(path, first)}`);
    }
    firstIndex.set(id, i);
    const v = realViolation(real, ctx, local);
    if (v !== undefined) w.fail(r.nodes[v.field] ?? r.node, childPath(r.path, v.field), v.value, v.reason);
    if (r.check !== undefined) real.check = r.check;
    return real;
  });
}
