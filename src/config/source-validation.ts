// SPDX-License-Identifier: Apache-2.0
// The `source_validation:` section: which client sources may open a flow on the public side
// (bpf/srcval.h). Prefixes are written as the router admin writes them elsewhere: `10.0.0.0/8`,
// `2001:db8::/32`, or a bare address for one host.

import { isScalar, type Node } from 'yaml';
import { XLVS_MAX_SRCVAL_PREFIXES } from '../gen/abi.js';
import { canonicalAddress, familyOf, maskPrefix, maxPrefix } from '../model/ip.js';
import { addressProblem } from '../model/rules.js';
import {
  DEFAULT_SOURCE_VALIDATION, SOURCE_VALIDATION_MODES, type SourcePrefix, type SourceValidation,
} from '../model/types.js';
import { childPath, itemPath, type Walker } from './yaml-walk.js';

const PREFIX_REASON = 'must be an IPv4 or IPv6 prefix (address/length, e.g. 10.0.0.0/8) or an address';

/** "10.0.0.0/8", "2001:db8::1/128": the text form the config and logs use. */
export const prefixText = (p: SourcePrefix): string => `${p.address}/${p.prefix}`;

export function readSourceValidation(w: Walker, node: Node, path: string): SourceValidation {
  const sv: SourceValidation = { ...DEFAULT_SOURCE_VALIDATION, allow: [], deny: [] };
  if (isScalar(node) && node.value === null) return sv;
  const sites: Record<'allow' | 'deny', Node[]> = { allow: [], deny: [] };
  let modeNode: Node | undefined;
  const list = (which: 'allow' | 'deny') => (n: Node, p: string) => {
    for (const [i, { node: item }] of w.seq(n, p, true).entries()) {
      sv[which].push(readPrefix(w, item, itemPath(p, i)));
      sites[which].push(item);
    }
  };
  w.fields(node, path, {
    mode: (n, p) => {
      sv.mode = w.oneOf(n, p, SOURCE_VALIDATION_MODES);
      modeNode = n;
    },
    allow: list('allow'),
    deny: list('deny'),
  });
  // A prefix once, in one list: two entries for one key of the data plane's trie cannot both hold.
  const seen = new Map<string, string>();
  for (const which of ['allow', 'deny'] as const) {
    sv[which].forEach((p, i) => {
      const key = prefixText(p);
      const at = itemPath(childPath(path, which), i);
      const first = seen.get(key);
      if (first !== undefined) w.fail(sites[which][i]!, at, key, `the same prefix as ${first}`);
      seen.set(key, at);
    });
  }
  const n = sv.allow.length + sv.deny.length;
  if (n > XLVS_MAX_SRCVAL_PREFIXES) {
    const which = sv.deny.length > 0 ? 'deny' : 'allow';
    const last = sv[which].length - 1;
    w.fail(sites[which][last]!, itemPath(childPath(path, which), last), n, `too many prefixes: allow and deny hold at most ${XLVS_MAX_SRCVAL_PREFIXES} together`);
  }
  if (sv.mode === 'off' && n > 0 && modeNode !== undefined) {
    w.fail(modeNode, childPath(path, 'mode'), 'off', 'allow and deny have no effect with mode off: remove them, or use strict or loose');
  }
  return sv;
}

/** One prefix: the address canonical, the length within its family, no host bits set. */
function readPrefix(w: Walker, node: Node, path: string): SourcePrefix {
  const text = w.str(node, path, (s) => /^[^/]+(\/[0-9]+)?$/.test(s), PREFIX_REASON);
  const [addr, len] = text.split('/') as [string, string | undefined];
  const family = familyOf(addr);
  if (family === null) w.fail(node, path, text, PREFIX_REASON);
  const problem = addressProblem(addr);
  if (problem !== undefined) w.fail(node, path, text, problem);
  const max = maxPrefix(family);
  if (len !== undefined && !/^(0|[1-9][0-9]*)$/.test(len)) w.fail(node, path, text, `prefix length must be a decimal 0..${max}`);
  const prefix = len === undefined ? max : Number(len);
  if (prefix > max) w.fail(node, path, text, `prefix length must be 0..${max} for IPv${family}`);
  const address = canonicalAddress(addr) as string;
  const network = maskPrefix(address, prefix);
  if (network !== address) w.fail(node, path, text, `has host bits set: the prefix is ${network}/${prefix}`);
  return { address, prefix };
}
