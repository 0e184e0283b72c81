// SPDX-License-Identifier: Apache-2.0
// The `check:` of a service or a real (issue 5), read into a CheckSpec. Every option of every
// type is validated here, at load, by the same validators the probes use, so a bad check is a
// config error with file:line:column, never a probe that fails at run time.
//
//   check:
//     type: tcp | udp | http | https | exec        # required
//     interval_ms: 1000   timeout_ms: 1000         # timeout <= interval, <= 60000
//     rise: 2   fall: 3   initial: down | up   jitter: 0.1
//     reentry_ms: 0   slow_start_ms: 0
//     on_failure: quiesce | remove   remove_flows: drop | reset   (remove only)
//     address: 10.77.0.50   port: 8080             # check somewhere else than the real
//     address: vip                                 # the VIP on each dr/tun real (plain tcp;
//                                                  #   without health.syn_checks: dr, IPv4)
//     tcp/udp:   send: "PING\n"   expect: "PONG" | "/re/" | "*"   no_reply: true (udp)
//     http(s):   method path host sni status body digest verify ca max_body_bytes
//     exec:      command: [/path/prog, args...]   env: { K: v }   dynamic: true
//
// A real's `check:` replaces the service's whole; `check: none` turns checking off for it.

import { dirname, isAbsolute, resolve } from 'node:path';
import { isMap, isScalar, type Node } from 'yaml';
import { httpOptions, planHttp } from '../health/probes/http.js';
import { planExec } from '../health/probes/exec.js';
import { InvalidArgumentError } from '../errors.js';
import { CHECK_TYPES, type CheckSpec, type CheckType } from '../health/spec.js';
import { MAX_DURATION_MS, validateCheckOptions } from '../health/types.js';
import { parseExpect, parseSend } from '../health/probes/expect.js';
import { MAX_PROBE_TIMEOUT_MS } from '../health/probes/index.js';
import { readAddress } from './address.js';
import { type Walker, childPath } from './yaml-walk.js';

/** no_reply needs time for an ICMP unreachable to come back before silence counts as success. */
export const MIN_NO_REPLY_TIMEOUT_MS = 100;

const COMMON = ['type', 'interval_ms', 'timeout_ms', 'rise', 'fall', 'initial', 'jitter', 'reentry_ms', 'slow_start_ms',
  'on_failure', 'remove_flows', 'address', 'port'] as const;
const HTTP = ['method', 'path', 'host', 'status', 'body', 'digest', 'max_body_bytes'] as const;
const BY_TYPE: Record<CheckType, readonly string[]> = {
  tcp: ['send', 'expect'],
  udp: ['send', 'expect', 'no_reply'],
  http: HTTP,
  https: [...HTTP, 'sni', 'verify', 'ca'],
  exec: ['command', 'env', 'dynamic'],
};
const DURATIONS = ['interval_ms', 'timeout_ms', 'reentry_ms', 'slow_start_ms'] as const;
const COUNTS = ['rise', 'fall'] as const;

interface Field {
  node: Node;
  path: string;
  value: unknown;
}

/** snake_case config key → the probe's camelCase option. */
const PARAM_NAME: Record<string, string> = { no_reply: 'noReply', max_body_bytes: 'maxBodyBytes', timeout_ms: 'timeoutMs' };

/**
 * Reads one `check:`. `allowNone` (reals only) accepts `none` and returns null.
 * The family of `address` is checked later (finishCheck), when the service's is known.
 */
export function readCheck(w: Walker, node: Node, path: string, allowNone: boolean): CheckSpec | null {
  if (isScalar(node) && node.value === 'none' && allowNone) return null;
  if (!isMap(node)) w.fail(node, path, w.describe(node), allowNone ? 'must be a mapping or none' : 'must be a mapping');
  const fields = new Map<string, Field>();
  const all = new Set<string>([...COMMON, ...Object.values(BY_TYPE).flat()]);
  w.fields(node, path, Object.fromEntries([...all].map((k) => [k, (n: Node, p: string) => void fields.set(k, { node: n, path: p, value: w.describe(n) })])), ['type']);

  const type = w.oneOf(fields.get('type')!.node, childPath(path, 'type'), CHECK_TYPES);
  for (const [k, f] of fields) {
    if (!(COMMON as readonly string[]).includes(k) && !BY_TYPE[type].includes(k)) {
      const owners = CHECK_TYPES.filter((t) => BY_TYPE[t].includes(k));
      w.fail(f.node, f.path, f.value, `not an option of type ${type} (only of ${owners.join(', ')})`);
    }
  }
  // Syntax first, with the walker's strictness (decimal integers, real booleans, strings).
  const raw: Record<string, unknown> = {};
  for (const k of DURATIONS) if (fields.has(k)) raw[k] = w.int(fields.get(k)!.node, childPath(path, k), 0, MAX_DURATION_MS);
  for (const k of COUNTS) if (fields.has(k)) raw[k] = w.int(fields.get(k)!.node, childPath(path, k), 1, 1000);
  for (const k of ['initial', 'on_failure'] as const) if (fields.has(k)) raw[k] = fields.get(k)!.value;
  if (fields.has('jitter')) {
    const f = fields.get('jitter')!;
    if (!isScalar(f.node) || typeof f.value !== 'number') w.fail(f.node, f.path, f.value, 'must be a number between 0 and 1');
    raw.jitter = f.value;
  }
  // The behaviour options; errors name the field under `path`.
  const options = at(w, fields, path, () => validateCheckOptions(raw, path));
  if (options.timeout_ms > MAX_PROBE_TIMEOUT_MS) {
    const f = fields.get('timeout_ms') ?? fields.get('interval_ms')!;
    w.fail(f.node, childPath(path, 'timeout_ms'), options.timeout_ms, `must be at most ${MAX_PROBE_TIMEOUT_MS}`);
  }
  const removeFlows = fields.has('remove_flows')
    ? w.oneOf(fields.get('remove_flows')!.node, childPath(path, 'remove_flows'), ['drop', 'reset'] as const)
    : 'drop';
  if (fields.has('remove_flows') && options.on_failure !== 'remove') {
    const f = fields.get('remove_flows')!;
    w.fail(f.node, f.path, f.value, 'only with on_failure: remove');
  }
  const spec: CheckSpec = { type, options, remove_flows: removeFlows, params: {} };
  if (fields.has('address')) {
    const f = fields.get('address')!;
    if (isScalar(f.node) && f.node.value === 'vip') {
      // The VIP on the real: a plain connect, whose socket can be steered (tcp-connect.ts).
      if (type !== 'tcp' || fields.has('send') || fields.has('expect')) w.fail(f.node, f.path, 'vip', 'vip works with a plain tcp check (no send/expect)');
      spec.vip = true;
    } else {
      spec.address = readAddress(w, f.node, childPath(path, 'address'));
    }
  }
  if (fields.has('port')) spec.port = w.int(fields.get('port')!.node, childPath(path, 'port'), 1, 65535);

  const params: Record<string, unknown> = {};
  for (const k of BY_TYPE[type]) if (fields.has(k)) params[PARAM_NAME[k] ?? k] = fields.get(k)!.value;
  // A relative CA file is relative to the config file, not to wherever xlvsd was started.
  if (typeof params.ca === 'string' && params.ca !== '' && !isAbsolute(params.ca)) params.ca = resolve(dirname(w.file), params.ca);
  at(w, fields, path, () => validateParams(type, { ...params, timeoutMs: options.timeout_ms }, path));
  spec.params = params;
  return spec;
}

/** The probe's own validation of its options (the same code the probe runs), at load. */
export function validateParams(type: CheckType, params: Record<string, unknown>, path: string): void {
  switch (type) {
    case 'tcp':
    case 'udp':
      checkSendExpect(params, path, params.timeoutMs as number);
      return;
    case 'http':
    case 'https':
      planHttp(httpOptions(type, params), path);
      return;
    case 'exec':
      planExec(params, path);
      return;
  }
}

function checkSendExpect(params: Record<string, unknown>, path: string, timeoutMs: number): void {
  if (params.send !== undefined) parseSend(childPath(path, 'send'), params.send);
  if (params.expect !== undefined) parseExpect(childPath(path, 'expect'), params.expect);
  if (params.noReply !== undefined) {
    if (typeof params.noReply !== 'boolean') throw new InvalidArgumentError(childPath(path, 'no_reply'), params.noReply, 'must be true or false');
    if (params.noReply && params.expect !== undefined) {
      throw new InvalidArgumentError(childPath(path, 'no_reply'), true, 'cannot be combined with expect');
    }
    if (params.noReply && timeoutMs < MIN_NO_REPLY_TIMEOUT_MS) {
      throw new InvalidArgumentError(childPath(path, 'timeout_ms'), timeoutMs, `must be at least ${MIN_NO_REPLY_TIMEOUT_MS} with no_reply (an ICMP unreachable needs time to come back)`);
    }
  }
}

/**
 * Runs a validator; its InvalidArgumentError (field under `path`) becomes a ConfigError at the
 * node of the check's key it names (`check.status[1]` → the `status` node), or at the check.
 */
function at<T>(w: Walker, fields: Map<string, Field>, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof InvalidArgumentError)) throw e;
    const rest = e.field.startsWith(`${path}.`) ? e.field.slice(path.length + 1) : e.field;
    const snake = rest.split(/[.[]/)[0]!;
    const key = Object.entries(PARAM_NAME).find(([, camel]) => camel === snake)?.[0] ?? snake;
    const f = fields.get(key) ?? fields.get('type')!;
    const field = e.field.startsWith(path) ? e.field : childPath(path, e.field);
    return w.fail(f.node, field.replace(`${path}.${snake}`, `${path}.${key}`), e.value, e.reason);
  }
}
