// SPDX-License-Identifier: Apache-2.0
// The real-vs-service rules (src/model/rules.ts) shared by the config and the API, and their
// API form (checkRealFitsService).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CapacityError, InvalidArgumentError } from '../../src/errors.js';
import { checkRealFitsService } from '../../src/api/validate.js';
import {
  defaultRealPort, mhTableFitProblem, mhTableSizeProblem, realCountProblem, realViolation, type RealContext,
} from '../../src/model/rules.js';
import { MAX_MH_TABLE_SIZE, type RealSpec, type SchedulerName } from '../../src/model/types.js';

const real = (more: Partial<RealSpec> = {}): RealSpec => ({
  address: '10.77.0.11', port: 80, weight: 1, method: 'nat', upper_threshold: 0, lower_threshold: 0, ...more,
});
const ONE: RealContext = { family: 4, frontends: [{ vip: '203.0.113.100', port: 80, protocol: 'tcp' }] };
const GROUP: RealContext = {
  family: 4,
  frontends: [
    { vip: '203.0.113.100', port: 80, protocol: 'tcp' },
    { vip: '203.0.113.100', port: 443, protocol: 'tcp' },
  ],
};
const ALL: RealContext = { family: 4, frontends: [{ vip: '203.0.113.100', port: 0, protocol: 'tcp' }] };
const LOCAL = { v4: '10.77.0.1', v6: 'fd00:77::1' };

test('default real port: the single port, else 0; always 0 for dr/tun', () => {
  assert.equal(defaultRealPort('nat', ONE.frontends), 80);
  assert.equal(defaultRealPort('fullnat', ONE.frontends), 80);
  assert.equal(defaultRealPort('nat', GROUP.frontends), 0);
  assert.equal(defaultRealPort('nat', ALL.frontends), 0);
  assert.equal(defaultRealPort('dr', ONE.frontends), 0);
  assert.equal(defaultRealPort('tun', ONE.frontends), 0);
  // Same port on two VIPs is still one port.
  assert.equal(defaultRealPort('nat', [...ONE.frontends, { vip: '203.0.113.101', port: 80, protocol: 'udp' }]), 80);
});

test('family must match the service', () => {
  assert.deepEqual(realViolation(real({ address: 'fd00::11' }), ONE, LOCAL), {
    field: 'address', value: 'fd00::11', reason: "must be an IPv4 address like the service's VIP",
  });
  assert.equal(realViolation(real({ address: 'fd00::11' }), { ...ONE, family: 6 }, LOCAL), undefined);
});

test('dr/tun cannot change the port', () => {
  assert.equal(realViolation(real({ method: 'dr', port: 80 }), ONE, LOCAL), undefined);
  assert.equal(realViolation(real({ method: 'dr', port: 0 }), GROUP, LOCAL), undefined);
  assert.deepEqual(realViolation(real({ method: 'dr', port: 8080 }), ONE, LOCAL), {
    field: 'port', value: 8080,
    reason: 'must be 0 (keep) or 80: dr cannot change the destination port and the service answers on port 80',
  });
  assert.deepEqual(realViolation(real({ method: 'tun', port: 80 }), GROUP, LOCAL), {
    field: 'port', value: 80,
    reason: 'must be 0 (keep): tun cannot change the destination port and the service answers on ports 80, 443',
  });
  assert.deepEqual(realViolation(real({ method: 'dr', port: 80 }), ALL, LOCAL)?.reason,
    'must be 0 (keep): dr cannot change the destination port and the service answers on every port');
  // nat and fullnat may translate the port.
  assert.equal(realViolation(real({ method: 'nat', port: 8080 }), GROUP, LOCAL), undefined);
  assert.equal(realViolation(real({ method: 'fullnat', port: 8080 }), ONE, LOCAL), undefined);
});

test('tun and fullnat need a local address of their family', () => {
  assert.equal(realViolation(real({ method: 'tun', port: 0 }), ONE, LOCAL), undefined);
  assert.deepEqual(realViolation(real({ method: 'tun', port: 0 }), ONE, { v6: 'fd00:77::1' }), {
    field: 'method', value: 'tun', reason: 'needs local_addresses.v4 (the tunnel source), which is not set',
  });
  assert.deepEqual(realViolation(real({ address: 'fd00::11', method: 'fullnat' }), { ...ONE, family: 6 }, { v4: '10.77.0.1' }), {
    field: 'method', value: 'fullnat', reason: 'needs local_addresses.v6 (the source NAT address), which is not set',
  });
  assert.equal(realViolation(real({ method: 'dr', port: 0 }), ONE, {}), undefined);
});

test('thresholds: lower needs an upper and may not exceed it', () => {
  assert.equal(realViolation(real({ upper_threshold: 100 }), ONE, LOCAL), undefined);
  assert.equal(realViolation(real({ upper_threshold: 100, lower_threshold: 100 }), ONE, LOCAL), undefined);
  assert.deepEqual(realViolation(real({ upper_threshold: 100, lower_threshold: 101 }), ONE, LOCAL), {
    field: 'lower_threshold', value: 101, reason: 'must be <= upper_threshold (100)',
  });
  assert.deepEqual(realViolation(real({ lower_threshold: 5 }), ONE, LOCAL), {
    field: 'lower_threshold', value: 5, reason: 'needs an upper_threshold (0 = none is set)',
  });
});

/** A service as checkRealFitsService sees it: ONE's frontends with `n` reals 10.0.x.y:80. */
const service = (scheduler: SchedulerName, n: number, mh_table_size = 65537) => ({
  ...ONE, vip: '203.0.113.100', port: 80, protocol: 'tcp' as const, scheduler, mh_table_size,
  reals: Array.from({ length: n }, (_, i) => real({ address: `10.0.${i >> 8}.${i & 255}` })),
});

test('checkRealFitsService names the field under the given prefix', () => {
  checkRealFitsService('real', real(), service('wlc', 0), LOCAL);
  assert.throws(
    () => checkRealFitsService('real', real({ method: 'dr', port: 8080 }), service('wlc', 0), LOCAL),
    (e: unknown) => e instanceof InvalidArgumentError && e.field === 'real.port' && /\(got 8080\)$/.test(e.message),
  );
});

test('mh table must be larger than the number of reals; every real counts, weight 0 too', () => {
  assert.equal(mhTableFitProblem(7, 6), undefined);
  assert.equal(mhTableFitProblem(7, 7), 'must be larger than the number of reals (7): Maglev gives each real at least one slot');
  assert.equal(mhTableFitProblem(2, 3), 'must be larger than the number of reals (3): Maglev gives each real at least one slot');
  assert.equal(realCountProblem({ scheduler: 'mh', mh_table_size: 7 }, 6), undefined);
  assert.equal(realCountProblem({ scheduler: 'mh', mh_table_size: 7 }, 7),
    'too many reals for mh_table_size 7: the table must be larger than the number of reals (7)');
  assert.equal(realCountProblem({ scheduler: 'wlc', mh_table_size: 7 }, 7), undefined, 'the table size only binds mh');
  assert.equal(realCountProblem({ scheduler: 'wlc', mh_table_size: 65537 }, 256), undefined);
  assert.equal(realCountProblem({ scheduler: 'mh', mh_table_size: 65537 }, 257), 'too many reals: a service has at most 256');
});

test('checkRealFitsService refuses a new real past the mh table or the 256 limit as a capacity, not an update', () => {
  const capacity = (message: string) => (e: unknown): boolean => e instanceof CapacityError && e.code === 'E_CAPACITY' && e.message === message;
  const LIMIT = capacity('too many reals in service tcp/203.0.113.100:80: the data plane holds at most 256 (the change needs 257)');
  checkRealFitsService('real', real(), service('mh', 5, 7), LOCAL); // the 6th real of 7 slots
  assert.throws(
    () => checkRealFitsService('real', real(), service('mh', 7, 7), LOCAL),
    capacity('too many reals in service tcp/203.0.113.100:80 (mh_table_size 7): the data plane holds at most 6 (the change needs 8)'),
  );
  assert.throws(() => checkRealFitsService('real', real(), service('mh', 6, 7), LOCAL), /at most 6 \(the change needs 7\)/);
  // Re-weighting a real the service has already counts nothing new.
  checkRealFitsService('real', real({ address: '10.0.0.3', weight: 9 }), service('mh', 7, 7), LOCAL);
  checkRealFitsService('real', real(), service('wlc', 255), LOCAL);
  assert.throws(() => checkRealFitsService('real', real(), service('wlc', 256), LOCAL), LIMIT);
  checkRealFitsService('real', real({ address: '10.0.0.200' }), service('wlc', 256), LOCAL);
});

test('mh table size: a prime 2..1048573', () => {
  assert.equal(mhTableSizeProblem(MAX_MH_TABLE_SIZE), undefined);
  assert.equal(mhTableSizeProblem(65537), undefined);
  assert.equal(mhTableSizeProblem(251), undefined);
  assert.equal(mhTableSizeProblem(65535), 'must be a prime 2..1048573 (Maglev needs a prime table size)');
  assert.equal(mhTableSizeProblem(1048583), 'must be a prime 2..1048573'); // prime, but above the limit
  assert.equal(mhTableSizeProblem(1), 'must be a prime 2..1048573');
});
