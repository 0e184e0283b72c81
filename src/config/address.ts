// SPDX-License-Identifier: Apache-2.0
// Reading an address field: IPv4 or IPv6 (optionally only one family), kept in canonical form.

import type { Node } from 'yaml';
import { canonicalAddress, familyOf } from '../model/ip.js';
import { addressProblem } from '../model/rules.js';
import type { Family } from '../model/types.js';
import type { Walker } from './yaml-walk.js';

const REASON = {
  any: 'must be an IPv4 (dotted quad) or IPv6 address',
  4: 'must be an IPv4 address (dotted quad)',
  6: 'must be an IPv6 address',
} as const;

/** An address as the model keeps it (IPv6 per RFC 5952); `family` restricts it to one family. */
export function readAddress(w: Walker, node: Node, path: string, family?: Family): string {
  const ok = (s: string): boolean => (family === undefined ? familyOf(s) !== null : familyOf(s) === family);
  const text = w.str(node, path, ok, REASON[family ?? 'any']);
  const problem = addressProblem(text);
  if (problem !== undefined) w.fail(node, path, text, problem);
  return canonicalAddress(text) as string;
}
