// SPDX-License-Identifier: Apache-2.0
// Run-time overrides (src/state/overrides.ts): how they stack on the config's
// desired state, and how they persist in the state dir.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Overrides, applyOverrides, overlayOverrides, type Override } from '../../src/state/overrides.js';
import { XlvsError } from '../../src/errors.js';
import { DEFAULT_SOURCE_VALIDATION, DEFAULT_TIMEOUTS, type DesiredState, type RealSpec, type ServiceKey, type ServiceSpec } from '../../src/model/types.js';

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
  return { services, timeouts: { ...DEFAULT_TIMEOUTS, tcp: 600 }, hash_seed: 0, local: {}, source_validation: DEFAULT_SOURCE_VALIDATION };
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
  assert.deepEqual(readdirSync(dir).sort(), ['overrides.json', 'overrides.json.prev'], 'no temp file left behind');

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

test('overrides.json cut short or empty (a crash mid-write) falls back to overrides.json.prev, with a warning', () => {
  for (const cut of [(f: string) => truncateSync(f, Math.floor(readFileSync(f).length / 2)), (f: string) => truncateSync(f, 0)]) {
    const dir = stateDir();
    const file = join(dir, 'overrides.json');
    const o = new Overrides(dir);
    const first = o.with(WEB, { real: real('10.77.0.13', 80, 2) });
    o.commit(first);
    o.commit(o.with(WEB, { real: real('10.77.0.13', 80, 5) }));
    cut(file);
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void warnings.push((JSON.parse(l) as { msg: string }).msg) });
    assert.deepEqual(new Overrides(dir, log).entries, first, 'the version before the last commit');
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0]!.startsWith(`${file}: `) && warnings[0]!.includes(`using the previous version ${file}.prev`), warnings[0]);
  }
});

test('overrides.json and overrides.json.prev both damaged: E_STATE naming both, never an empty start', () => {
  const dir = stateDir();
  const file = join(dir, 'overrides.json');
  const o = new Overrides(dir);
  o.commit(o.with(WEB, { real: real('10.77.0.13', 80, 2) }));
  o.commit(o.with(WEB, { real: real('10.77.0.13', 80, 5) }));
  writeFileSync(file, '[{"op":"set"');
  writeFileSync(`${file}.prev`, '[{"op":"set","service":"tcp/1.2.3.4:80","real":{"address":"10.0.0.300","port":80,"weight":1,"method":"nat"}}]');
  assert.throws(() => new Overrides(dir), (e: unknown) => {
    assert.ok(e instanceof XlvsError && e.code === 'E_STATE', String(e));
    assert.ok(e.message.startsWith(`${file}: not valid JSON`), e.message);
    assert.ok(e.message.includes(`; its previous version is damaged too: ${file}.prev[0].real.address: must be an IPv4 address`), e.message);
    return true;
  });
});

/** Writes `list` as a state dir's overrides.json, as a person or an older xlvsd might have. */
function savedDir(list: unknown): { dir: string; file: string } {
  const dir = stateDir();
  new Overrides(dir).commit([]);
  const file = join(dir, 'overrides.json');
  writeFileSync(file, JSON.stringify(list));
  return { dir, file };
}

const V6: ServiceKey = { vip: '2001:db8::100', port: 80, protocol: 'tcp' };
const V6_ID = 'tcp/[2001:db8::100]:80';
function baseV6(): DesiredState {
  const reals = [{ ...real('2001:db8::1'), weight: 2 }, real('2001:db8::2')];
  return { ...base(), services: [{ ...V6, ...SPEC, family: 6, frontends: [V6], scheduler: 'rr', reals }] };
}

test('loading canonicalises addresses and service ids: another spelling is the same real', () => {
  const { dir } = savedDir([
    { op: 'set', service: 'TCP/[2001:DB8:0::100]:80', real: { address: '2001:DB8::0001', port: 80, weight: 5, method: 'nat' } },
    { op: 'remove', service: 'tcp/[2001:db8::0100]:80', address: '2001:0DB8:0:0::2', port: 80 },
  ]);
  const o = new Overrides(dir);
  assert.deepEqual(o.entries, [
    { op: 'set', service: V6_ID, real: { ...real('2001:db8::1'), weight: 5 } },
    { op: 'remove', service: V6_ID, address: '2001:db8::2', port: 80 },
  ]);
  const { desired, skipped } = overlayOverrides(baseV6(), o.entries);
  assert.deepEqual(desired.services[0]!.reals, [{ ...real('2001:db8::1'), weight: 5 }], 'set replaced, remove removed: no twin real');
  assert.deepEqual(skipped, []);
  // A later API change on the same real replaces the loaded entry instead of adding a twin.
  assert.deepEqual(o.with(V6, { address: '2001:db8::1', port: 80 }), [
    { op: 'remove', service: V6_ID, address: '2001:db8::2', port: 80 },
    { op: 'remove', service: V6_ID, address: '2001:db8::1', port: 80 },
  ]);
});

test('a bad saved field is named with its value, not the whole real', () => {
  const ok = { address: '10.77.0.13', port: 80, weight: 1, method: 'nat' };
  const cases: [unknown, string][] = [
    [[{ op: 'set', service: WEB_ID, real: { ...ok, weight: 70000 } }], '[0].real.weight: must be an integer 0..65535 (got 70000)'],
    [[{ op: 'set', service: WEB_ID, real: ok }, { op: 'set', service: WEB_ID, real: { ...ok, method: 'dsr' } }],
      '[1].real.method: must be one of nat, dr, tun, fullnat (got "dsr")'],
    [[{ op: 'set', service: WEB_ID, real: { ...ok, address: '10.0.0.300' } }], '[0].real.address: must be an IPv4 address like 10.0.0.1 or an IPv6 address like fd00::1 (got "10.0.0.300")'],
    [[{ op: 'set', service: WEB_ID, real: { ...ok, upper_threshold: -1 } }], '[0].real.upper_threshold: must be an integer 0..4294967295 (got -1)'],
    [[{ op: 'set', service: WEB_ID, real: 'x' }], '[0].real: must be an object (got "x")'],
    [[{ op: 'remove', service: WEB_ID, address: '10.0.0.1', port: 65536 }], '[0].port: must be an integer 0..65535 (got 65536)'],
    [[{ op: 'rename', service: WEB_ID }], '[0].op: must be "set" or "remove" (got "rename")'],
    [[{ op: 'set', service: 7 }], '[0].service: must be a service like tcp/203.0.113.100:80 (got 7)'],
    [[{ op: 'set', service: 'tcp/203.0.113.100', real: ok }], '[0].service: must be PROTOCOL/VIP:PORT'],
    [{}, ': must be a JSON array of overrides (got {})'],
  ];
  for (const [list, want] of cases) {
    const { dir, file } = savedDir(list);
    assert.throws(
      () => new Overrides(dir),
      (e: unknown) => {
        assert.ok(e instanceof XlvsError && e.code === 'E_STATE', `not an E_STATE XlvsError: ${String(e)}`);
        assert.ok(e.message.startsWith(`${file}${want}`), `${JSON.stringify(list)}: ${e.message}`);
        assert.ok(!e.message.includes('"weight":'), `the whole real is dumped: ${e.message}`);
        return true;
      },
    );
  }
});

test('overrides that no longer fit their service are skipped and reported; the rest apply', () => {
  const b = base();
  b.services[0] = { ...b.services[0]!, scheduler: 'mh', mh_table_size: 5 }; // WEB: 2 reals, room for 2 more
  const list: Override[] = [
    { op: 'set', service: WEB_ID, real: { ...real('10.77.0.20', 0), method: 'tun' } }, // no local_addresses.v4 any more
    { op: 'set', service: WEB_ID, real: { ...real('10.77.0.21', 8080), method: 'dr' } }, // dr cannot reach port 8080
    { op: 'set', service: WEB_ID, real: real('10.77.0.22') },
    { op: 'set', service: WEB_ID, real: real('10.77.0.23') },
    { op: 'set', service: WEB_ID, real: real('10.77.0.24') }, // the 5th real of a 5-slot mh table
    { op: 'set', service: WEB_ID, real: real('10.77.0.11', 80, 7) }, // a reweight needs no room
    { op: 'set', service: WEB_ID, real: real('fd00::9') }, // wrong family
  ];
  const { desired, skipped } = overlayOverrides(b, list);
  assert.deepEqual(realsOf(desired, WEB_ID).map((r) => `${r.address}/${r.weight}`), ['10.77.0.11/7', '10.77.0.12/1', '10.77.0.22/1', '10.77.0.23/1']);
  assert.deepEqual(skipped, [
    { index: 0, field: 'real.method', value: 'tun', reason: 'needs local_addresses.v4 (the tunnel source), which is not set' },
    {
      index: 1, field: 'real.port', value: 8080,
      reason: 'must be 0 (keep) or 80: dr cannot change the destination port and the service answers on port 80',
    },
    { index: 4, field: 'real', value: '10.77.0.24:80', reason: 'too many reals for mh_table_size 5: the table must be larger than the number of reals (5)' },
    { index: 6, field: 'real.address', value: 'fd00::9', reason: 'must be an IPv4 address like the service\'s VIP' },
  ]);
  // With the local address back, the tun real applies again.
  assert.equal(overlayOverrides({ ...b, local: { v4: '10.77.0.1' } }, list).skipped[0]!.index, 1);
});

test('the 257th real of a service is skipped, its 256th is not', () => {
  const list: Override[] = Array.from({ length: 255 }, (_, i) => ({ op: 'set', service: DNS_ID, real: real(`10.1.${i >> 8}.${i & 255}`, 53) }));
  const { desired, skipped } = overlayOverrides(base(), list); // DNS has 2 reals: 255 more make 257
  assert.equal(realsOf(desired, DNS_ID).length, 256);
  assert.deepEqual(skipped, [{ index: 254, field: 'real', value: '10.1.0.254:53', reason: 'too many reals: a service has at most 256' }]);
});

test('applyOverrides warns once per skipped override, naming overrides.json[i].<field> and the value', () => {
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
  const list: Override[] = [
    { op: 'set', service: WEB_ID, real: real('10.77.0.13') },
    { op: 'set', service: WEB_ID, real: { ...real('10.77.0.20', 0), method: 'fullnat' } },
  ];
  const out = applyOverrides(base(), list, log);
  assert.deepEqual(realsOf(out, WEB_ID).map((r) => r.address), ['10.77.0.11', '10.77.0.12', '10.77.0.13']);
  assert.equal(lines.length, 1, lines.join(''));
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(rec.level, 40);
  assert.equal(rec.override, 'overrides.json[1].real.method');
  assert.equal(rec.value, 'fullnat');
  assert.equal(rec.msg, 'override skipped: overrides.json[1].real.method: needs local_addresses.v4 (the source NAT address), which is not set (got "fullnat")');
});
