// SPDX-License-Identifier: Apache-2.0
// One entry of `services`: read field by field in source order (syntax errors come in file
// order), then finished once the whole file is read (rules that involve several fields,
// local_addresses, or the service's family).

import { isMap, isScalar, type Node } from 'yaml';
import { familyOf, maxPrefix } from '../model/ip.js';
import { mhTableFitProblem, mhTableSizeProblem } from '../model/rules.js';
import {
  DEFAULT_MH_TABLE_SIZE, DEFAULT_PERSISTENCE_TIMEOUT, MAX_REALS_PER_SERVICE, MAX_MH_TABLE_SIZE, DEFAULT_SCHEDULER, HASH_SCHEDULERS, MAX_TIMEOUT_S, SCHEDULERS,
  type Family, type Frontend, type HashOptions, type LocalAddresses, type Protocol, type SchedulerName, type ServiceSpec,
} from '../model/types.js';
import { readAddress } from './address.js';
import { type RawReal, finishReals, readReal } from './real.js';
import { readCheck } from './check.js';
import { checkTargetProblem, type CheckSpec } from '../health/spec.js';
import { MAX_WEIGHT } from '../health/types.js';
import { type Walker, childPath, itemPath } from './yaml-walk.js';

/** A value with the node it came from and its field path. */
export interface At<T> {
  value: T;
  node: Node;
  path: string;
}

/** A frontend as read, with where each part came from (for errors). */
export interface RawFrontend {
  path: string;
  vip: At<string>;
  port: At<number>;
  protocol?: Protocol; // `also` entries default to the service's protocol
}

export interface RawService {
  path: string;
  node: Node;
  vip?: At<string>;
  ports: At<number>[];
  protocol: Protocol;
  also: RawFrontend[];
  scheduler?: At<SchedulerName>;
  persistence?: { timeout: number; netmask?: At<number> };
  hash?: At<HashOptions>;
  mhTableSize?: At<number>;
  reals: RawReal[];
  check?: At<CheckSpec>;
  sorry?: RawReal;
  quorum?: At<number>;
}

/** A finished service and, for the overlap check, where each of its frontends was written. */
export interface FinishedService {
  spec: ServiceSpec;
  sources: At<Frontend>[];
}

const PORT_REASON = 'must be an integer 1..65535 or all';
/** Every real at the largest weight: a larger quorum could never be met. */
const MAX_QUORUM = MAX_REALS_PER_SERVICE * MAX_WEIGHT;
const PROTOCOLS = ['tcp', 'udp'] as const;

/** `port: 80` or `port: all` (0 = every port). */
function readPort(w: Walker, n: Node, p: string): number {
  if (isScalar(n) && n.value === 'all') return 0;
  return w.int(n, p, 1, 65535, PORT_REASON);
}

function readAlso(w: Walker, node: Node, path: string): RawFrontend {
  let vip: At<string> | undefined;
  let port: At<number> | undefined;
  let protocol: Protocol | undefined;
  w.fields(
    node,
    path,
    {
      vip: (n, p) => (vip = { value: readAddress(w, n, p), node: n, path: p }),
      port: (n, p) => (port = { value: readPort(w, n, p), node: n, path: p }),
      protocol: (n, p) => (protocol = w.oneOf(n, p, PROTOCOLS)),
    },
    ['vip', 'port'],
  );
  return { path, vip: vip!, port: port!, protocol };
}

function readPersistence(w: Walker, node: Node, path: string): RawService['persistence'] {
  if (!isMap(node)) {
    const timeout = w.int(node, path, 1, MAX_TIMEOUT_S, `must be a timeout 1..${MAX_TIMEOUT_S} (seconds) or a mapping {timeout, netmask}`);
    return { timeout };
  }
  const out: NonNullable<RawService['persistence']> = { timeout: DEFAULT_PERSISTENCE_TIMEOUT };
  w.fields(node, path, {
    timeout: (n, p) => (out.timeout = w.int(n, p, 1, MAX_TIMEOUT_S)),
    // The family's range (32 or 128) is checked once the VIP is known.
    netmask: (n, p) => (out.netmask = { value: w.int(n, p, 0, 128), node: n, path: p }),
  });
  return out;
}

function readHash(w: Walker, node: Node, path: string): HashOptions {
  const h: HashOptions = { fallback: false, port: false };
  w.fields(node, path, {
    fallback: (n, p) => (h.fallback = w.bool(n, p)),
    port: (n, p) => (h.port = w.bool(n, p)),
  });
  return h;
}

export function readService(w: Walker, node: Node, path: string): RawService {
  const s: RawService = { path, node, ports: [], protocol: 'tcp', also: [], reals: [] };
  let portField: string | undefined;
  const ports = (read: (n: Node, p: string) => At<number>[]) => (n: Node, p: string) => {
    if (portField !== undefined) w.fail(n, p, w.describe(n), `give either port or ports, not both (${portField} is set)`);
    portField = p;
    s.ports = read(n, p);
  };
  w.fields(
    node,
    path,
    {
      vip: (n, p) => (s.vip = { value: readAddress(w, n, p), node: n, path: p }),
      port: ports((n, p) => [{ value: readPort(w, n, p), node: n, path: p }]),
      ports: ports((n, p) => {
        const items = w.seq(n, p);
        if (items.length === 0) w.fail(n, p, [], 'must list at least one port');
        return items.map(({ node: item }, i) => ({ value: w.int(item, itemPath(p, i), 1, 65535), node: item, path: itemPath(p, i) }));
      }),
      protocol: (n, p) => (s.protocol = w.oneOf(n, p, PROTOCOLS)),
      also: (n, p) => (s.also = w.seq(n, p, true).map(({ node: item }, i) => readAlso(w, item, itemPath(p, i)))),
      scheduler: (n, p) => (s.scheduler = { value: w.oneOf(n, p, SCHEDULERS), node: n, path: p }),
      persistence: (n, p) => (s.persistence = readPersistence(w, n, p)),
      hash: (n, p) => (s.hash = { value: readHash(w, n, p), node: n, path: p }),
      mh_table_size: (n, p) => {
        const size = w.int(n, p, 2, MAX_MH_TABLE_SIZE, `must be a prime 2..${MAX_MH_TABLE_SIZE}`);
        const problem = mhTableSizeProblem(size);
        if (problem !== undefined) w.fail(n, p, size, problem);
        s.mhTableSize = { value: size, node: n, path: p };
      },
      reals: (n, p) => (s.reals = w.seq(n, p, true).map(({ node: r, site }, i) => readReal(w, r, itemPath(p, i), site))),
      check: (n, p) => (s.check = { value: readCheck(w, n, p, false)!, node: n, path: p }),
      sorry_server: (n, p) => {
        s.sorry = readReal(w, n, p, n);
        if (s.sorry.check !== undefined) w.fail(s.sorry.nodes.check!, childPath(p, 'check'), w.describe(s.sorry.nodes.check!), 'a sorry server is not health-checked');
      },
      quorum: (n, p) => (s.quorum = { value: w.int(n, p, 1, MAX_QUORUM), node: n, path: p }),
    },
    ['vip'],
  );
  if (portField === undefined) w.fail(node, childPath(path, 'port'), undefined, 'required field missing (port or ports)');
  return s;
}

/** The rules between a service's fields, then its reals. */
export function finishService(w: Walker, s: RawService, local: LocalAddresses, synChecks: boolean): FinishedService {
  const vip = s.vip!; // required: readService has thrown if it is missing
  const family = familyOf(vip.value) as Family;
  const sources: At<Frontend>[] = s.ports.map((port) => ({
    value: { vip: vip.value, port: port.value, protocol: s.protocol },
    node: port.node,
    path: port.path,
  }));
  s.also.forEach((a) => {
    if (familyOf(a.vip.value) !== family) {
      w.fail(a.vip.node, a.vip.path, a.vip.value, `must be an IPv${family} address like ${childPath(s.path, 'vip')}`);
    }
    sources.push({ value: { vip: a.vip.value, port: a.port.value, protocol: a.protocol ?? s.protocol }, node: a.vip.node, path: a.path });
  });
  const scheduler = s.scheduler?.value ?? DEFAULT_SCHEDULER;
  if (s.hash !== undefined && !HASH_SCHEDULERS.includes(scheduler)) {
    w.fail(s.hash.node, s.hash.path, s.hash.value, `only for schedulers ${HASH_SCHEDULERS.join(', ')} (scheduler is ${scheduler})`);
  }
  if (s.mhTableSize !== undefined && scheduler !== 'mh') {
    w.fail(s.mhTableSize.node, s.mhTableSize.path, s.mhTableSize.value, `only for scheduler mh (scheduler is ${scheduler})`);
  }
  const netmask = s.persistence?.netmask;
  if (netmask !== undefined && netmask.value > maxPrefix(family)) {
    w.fail(netmask.node, netmask.path, netmask.value, `must be a prefix length 0..${maxPrefix(family)} for an IPv${family} service`);
  }
  const frontends = sources.map((f) => f.value);
  const first = frontends[0]!;
  const spec: ServiceSpec = {
    vip: first.vip,
    port: first.port,
    protocol: first.protocol,
    family,
    frontends,
    scheduler,
    hash: s.hash?.value ?? { fallback: false, port: false },
    mh_table_size: s.mhTableSize?.value ?? DEFAULT_MH_TABLE_SIZE,
    reals: finishReals(w, childPath(s.path, 'reals'), s.reals, { family, frontends }, local),
  };
  // Needs the reals, so it waits for them; mh_table_size is always written when it fails (the
  // default is far above the 256 reals a service can have).
  const fit = spec.scheduler === 'mh' ? mhTableFitProblem(spec.mh_table_size, spec.reals.length) : undefined;
  if (fit !== undefined) {
    const at = s.mhTableSize ?? { node: s.node, path: childPath(s.path, 'mh_table_size') };
    w.fail(at.node, at.path, spec.mh_table_size, fit);
  }
  if (s.persistence !== undefined) {
    spec.persistence = { timeout: s.persistence.timeout, netmask: netmask?.value ?? maxPrefix(family) };
  }
  finishHealth(w, s, spec, local, synChecks);
  return { spec, sources };
}

/** check, sorry_server and quorum: each real's check must be able to reach it. */
function finishHealth(w: Walker, s: RawService, spec: ServiceSpec, local: LocalAddresses, synChecks: boolean): void {
  if (s.check !== undefined) spec.check = s.check.value;
  spec.reals.forEach((real, i) => {
    const check = real.check === undefined ? spec.check : real.check;
    if (!check) return;
    const problem = checkTargetProblem(check, real, spec, synChecks);
    if (problem === undefined) return;
    const own = s.reals[i]!.nodes.check;
    const at = own ? { node: own, path: childPath(s.reals[i]!.path, 'check') } : { node: s.check!.node, path: s.check!.path };
    w.fail(at.node, `${childPath(at.path, problem.field)}`, problem.value ?? `${real.address}:${real.port}`, problem.reason);
  });
  if (s.sorry !== undefined) {
    const path = childPath(s.path, 'sorry_server');
    const [sorry] = finishReals(w, path, [s.sorry], { family: spec.family, frontends: spec.frontends }, local);
    if (spec.reals.length >= MAX_REALS_PER_SERVICE) {
      w.fail(s.sorry.node, path, `${sorry!.address}:${sorry!.port}`, `takes a real's place: a service has at most ${MAX_REALS_PER_SERVICE} reals with its sorry server`);
    }
    const clash = spec.reals.findIndex((r) => r.address === sorry!.address && r.port === sorry!.port);
    if (clash >= 0) w.fail(s.sorry.node, path, `${sorry!.address}:${sorry!.port}`, `is also ${itemPath(childPath(s.path, 'reals'), clash)}`);
    spec.sorry_server = sorry!;
  }
  if (s.quorum !== undefined) spec.quorum = s.quorum.value;
}
