// SPDX-License-Identifier: Apache-2.0
// Run-time overrides (src/daemon/overrides.ts): how they stack on the config's
// desired state, and how they persist in the state dir.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Overrides, applyOverrides, type Override } from '../../src/daemon/overrides.js';
import { XlvsError } from '../../src/errors.js';
import { DEFAULT_TIMEOUTS, type DesiredState, type RealSpec, type ServiceKey, type ServiceSpec } from '../../src/model/types.js';

const root = mkdtempSync(join(tmpdir(), 'xlvs-overrides-'));
let dirs = 0;
const stateDir = (): string => join(root, `state${dirs++}`);

after(() => rmSync(root, { recursive: true, force: true }));

const real = (address: string, port = 80, weight = 1): RealSpec => ({ address, port, weight, method: 'nat', upper_threshold: 0, lower_threshold: 0 });

const WEB: ServiceKey = { vip: '203.0.113.100', port: 80, protocol: 'tcp' };
const DNS: ServiceKey = { vip: '203.0.113.100', port: 53, protocol: 'udp' };
const WEB_ID = 'tcp/203.0.113.100:80';
const DNS_ID = 'udp/203.0.113.100:53';

const SPEC = { family: 4 as const, hash: { fallback: false, port: false }, mh_table_size: 65537 };

function base(): DesiredState {
  const services: ServiceSpec[] = [
    { ...WEB, ...SPEC, frontends: [WEB], scheduler: 'wrr', reals: [real('10.77.0.11', 80, 3), real('10.77.0.12', 80, 1)] },
    { ...DNS, ...SPEC, frontends: [DNS], scheduler: 'rr', reals: [real('10.77.0.11', 53), real('10.77.0.12', 53)] },
  ];
  return { services, timeouts: { ...DEFAULT_TIMEOUTS, tcp: 600 }, hash_seed: 0, local: {} };
}

const realsOf = (s: DesiredState, id: string): RealSpec[] => {
  const svc = s.services.find((x) => `${x.protocol}/${x.vip}:${x.port}` === id);
  assert.ok(svc, `service ${id} present`);
  return svc.reals;
};

test('set replaces the real with the same address:port in place', () => {
  const list: Override[] = [{ op: 'set', service: WEB_ID, real: real('10.77.0.12', 80, 9) }];
  const out = applyOverrides(base(), list);
  assert.deepEqual(realsOf(out, WEB_ID), [real('10.77.0.11', 80, 3), real('10.77.0.12', 80, 9)]);
  assert.deepEqual(realsOf(out, DNS_ID), realsOf(base(), DNS_ID), 'other services untouched');
  assert.deepEqual(out.timeouts, base().timeouts, 'timeouts carried over');
});

test('set adds a real not in the config at the end; same address on another port is another real', () => {
  const list: Override[] = [
    { op: 'set', service: WEB_ID, real: real('10.77.0.13', 80, 2) },
    { op: 'set', service: WEB_ID, real: real('10.77.0.11', 8080, 5) },
  ];
  const out = applyOverrides(base(), list);
  assert.deepEqual(realsOf(out, WEB_ID), [
    real('10.77.0.11', 80, 3),
    real('10.77.0.12', 80, 1),
    real('10.77.0.13', 80, 2),
    real('10.77.0.11', 8080, 5),
  ]);
});

test('remove removes the real (and only it); removing an absent real is a no-op', () => {
  const out = applyOverrides(base(), [
    { op: 'remove', service: WEB_ID, address: '10.77.0.11', port: 80 },
    { op: 'remove', service: WEB_ID, address: '10.77.0.12', port: 81 },
    { op: 'remove', service: WEB_ID, address: '10.77.0.99', port: 80 },
  ]);
  assert.deepEqual(realsOf(out, WEB_ID), [real('10.77.0.12', 80, 1)]);
  assert.deepEqual(realsOf(out, DNS_ID), realsOf(base(), DNS_ID), 'same address in another service kept');
});

test('a later override on the same real wins', () => {
  const set = (w: number): Override => ({ op: 'set', service: WEB_ID, real: real('10.77.0.12', 80, w) });
  const rm: Override = { op: 'remove', service: WEB_ID, address: '10.77.0.12', port: 80 };
  assert.deepEqual(realsOf(applyOverrides(base(), [set(5), set(7)]), WEB_ID)[1], real('10.77.0.12', 80, 7));
  assert.deepEqual(realsOf(applyOverrides(base(), [set(5), rm]), WEB_ID), [real('10.77.0.11', 80, 3)]);
  assert.deepEqual(realsOf(applyOverrides(base(), [rm, set(4)]), WEB_ID), [real('10.77.0.11', 80, 3), real('10.77.0.12', 80, 4)]);
});

test('overrides for services not in the desired state are ignored', () => {
  const list: Override[] = [
    { op: 'set', service: 'tcp/203.0.113.200:80', real: real('10.77.0.50') },
    { op: 'remove', service: 'tcp/203.0.113.100:81', address: '10.77.0.11', port: 80 },
    // same vip:port as WEB but udp: a different service
    { op: 'remove', service: 'udp/203.0.113.100:80', address: '10.77.0.11', port: 80 },
  ];
  assert.deepEqual(applyOverrides(base(), list), base());
});

test('applyOverrides does not modify its input', () => {
  const b = base();
  const snapshot = structuredClone(b);
  const list: Override[] = [
    { op: 'set', service: WEB_ID, real: real('10.77.0.12', 80, 9) },
    { op: 'set', service: WEB_ID, real: real('10.77.0.14') },
    { op: 'remove', service: DNS_ID, address: '10.77.0.11', port: 53 },
  ];
  const listSnapshot = structuredClone(list);
  const out = applyOverrides(b, list);
  assert.deepEqual(b, snapshot);
  assert.deepEqual(list, listSnapshot);
  assert.notDeepEqual(out, b);
});

test('with() stages without saving; one entry per real, the latest last', () => {
  const dir = stateDir();
  const o = new Overrides(dir);
  assert.deepEqual(o.entries, []);
  const l1 = o.with(WEB, { real: real('10.77.0.13', 80, 2) });
  assert.deepEqual(l1, [{ op: 'set', service: WEB_ID, real: real('10.77.0.13', 80, 2) }]);
  assert.deepEqual(o.entries, [], 'with() alone changes nothing');
  assert.deepEqual(readdirSync(dir), [], 'with() alone writes nothing');
  o.commit(l1);
  const l2 = o.with(DNS, { address: '10.77.0.11', port: 53 });
  o.commit(l2);
  // a new override on WEB's 10.77.0.13:80 replaces the older one and goes last
  const l3 = o.with(WEB, { address: '10.77.0.13', port: 80 });
  assert.deepEqual(l3, [
    { op: 'remove', service: DNS_ID, address: '10.77.0.11', port: 53 },
    { op: 'remove', service: WEB_ID, address: '10.77.0.13', port: 80 },
  ]);
  o.commit(l3);
  assert.deepEqual(o.entries, l3);
  assert.deepEqual(realsOf(applyOverrides(base(), o.entries), WEB_ID), realsOf(base(), WEB_ID));
  assert.deepEqual(realsOf(applyOverrides(base(), o.entries), DNS_ID), [real('10.77.0.12', 53)]);
});

test('committed overrides survive a new Overrides on the same dir', () => {
  const dir = stateDir();
  const a = new Overrides(dir);
  let list = a.with(WEB, { real: real('10.77.0.13', 80, 2) });
  a.commit(list);
  list = a.with(WEB, { real: real('10.77.0.12', 80, 0) });
  a.commit(list);
  list = a.with(DNS, { address: '10.77.0.12', port: 53 });
  a.commit(list);
  assert.deepEqual(readdirSync(dir), ['overrides.json'], 'no temp file left behind');

  const b = new Overrides(dir);
  assert.deepEqual(b.entries, list);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'overrides.json'), 'utf8')), list);
  const out = applyOverrides(base(), b.entries);
  assert.deepEqual(realsOf(out, WEB_ID), [real('10.77.0.11', 80, 3), real('10.77.0.12', 80, 0), real('10.77.0.13', 80, 2)]);
  assert.deepEqual(realsOf(out, DNS_ID), [real('10.77.0.11', 53)]);
  // an empty commit persists too
  b.commit([]);
  assert.deepEqual(new Overrides(dir).entries, []);
});

test('a new state dir is created, nested if need be', () => {
  const dir = join(stateDir(), 'a', 'b');
  const o = new Overrides(dir);
  o.commit(o.with(WEB, { real: real('10.77.0.13') }));
  assert.equal(new Overrides(dir).entries.length, 1);
});

test('a corrupt overrides.json is an E_STATE XlvsError naming the file', () => {
  for (const text of [
    '{not json',
    '[{"op":"set","service":"tcp/1.2.3.4:80"',
    '',
    // valid JSON of the wrong shape
    'null',
    '{}',
    '[{"op":"set","service":"tcp/1.2.3.4:80"}]',
    '[{"op":"set","service":"tcp/1.2.3.4:80","real":{"address":"10.0.0.300","port":80,"weight":1,"method":"nat"}}]',
    '[{"op":"remove","service":"tcp/1.2.3.4:80","address":"10.0.0.1","port":65536}]',
    '[{"op":"rename","service":"tcp/1.2.3.4:80"}]',
  ]) {
    const dir = stateDir();
    const o = new Overrides(dir);
    o.commit([]);
    const file = join(dir, 'overrides.json');
    writeFileSync(file, text);
    assert.throws(
      () => new Overrides(dir),
      (e: unknown) => {
        assert.ok(e instanceof XlvsError, `not an XlvsError: ${String(e)}`);
        assert.equal(e.code, 'E_STATE');
        assert.ok(e.message.includes(file), `message does not name ${file}: ${e.message}`);
        return true;
      },
      `content ${JSON.stringify(text)}`,
    );
  }
});
