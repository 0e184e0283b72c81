// SPDX-License-Identifier: Apache-2.0
// The config loader: the lab example, defaults, and the exact position/field/reason of each error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/errors.js';
import { expectConfigError as expectError, IFACES, y, type ConfigErrorWant as Expected } from './config-text.js';
import { formatIPv4, isIPv4, loadConfig, parseConfig, parseIPv4 } from '../../src/config/index.js';
import type { Config } from '../../src/config/index.js';
import { DEFAULT_TIMEOUTS } from '../../src/model/types.js';
import type { Protocol, RealSpec, SchedulerName, ServiceSpec } from '../../src/model/types.js';

// dist/test/unit/config.test.js → repo root is three levels up.
const LAB = fileURLToPath(new URL('../../../examples/lab.yaml', import.meta.url));

const real = (address: string, port: number, more: Partial<RealSpec> = {}): RealSpec => ({
  address, port, weight: 1, method: 'nat', upper_threshold: 0, lower_threshold: 0, ...more,
});
const reals = (port: number) => ['10.77.0.11', '10.77.0.12', '10.77.0.13'].map((address) => real(address, port));
const NO_HASH = { fallback: false, port: false };
/** A v4 service spec as the loader builds it for a single `port:`. */
function svc(vip: string, port: number, protocol: Protocol, scheduler: SchedulerName, rs: RealSpec[]): ServiceSpec {
  return { vip, port, protocol, family: 4, frontends: [{ vip, port, protocol }], scheduler, hash: NO_HASH, mh_table_size: 65537, reals: rs };
}

test('examples/lab.yaml parses to the lab model', async () => {
  const cfg = await loadConfig(LAB);
  const want: Config = {
    interfaces: { public: 'pub0', private: 'priv0', mode: 'native' },
    health: { maxProbes: 4096, maxExec: 16, synChecks: true },
    flowEntries: 1_048_576,
    desired: {
      timeouts: { tcp: 900, tcp_fin: 120, tcp_close: 10, udp: 300 },
      services: [
        svc('203.0.113.100', 80, 'tcp', 'rr', reals(80)),
        svc('203.0.113.100', 9000, 'tcp', 'wrr', reals(9000)),
        svc('203.0.113.100', 5353, 'udp', 'rr', reals(5353)),
      ],
      hash_seed: 0,
      local: {},
      source_validation: { mode: 'strict', allow: [], deny: [] },
    },
  };
  assert.deepEqual(cfg, want);
});

test('defaults: xdp_mode, timeouts, hash seed, protocol, scheduler wlc, real port/weight/method/thresholds', () => {
  const cfg = parseConfig(
    y(...IFACES, 'services:', '  - vip: 192.0.2.1', '    port: 443', '    reals:', '      - address: 10.0.0.1'),
    't.yaml',
  );
  assert.deepEqual(cfg, {
    interfaces: { public: 'pub0', private: 'priv0', mode: 'native' },
    health: { maxProbes: 4096, maxExec: 16, synChecks: true },
    flowEntries: 1_048_576,
    desired: {
      timeouts: DEFAULT_TIMEOUTS,
      services: [svc('192.0.2.1', 443, 'tcp', 'wlc', [real('10.0.0.1', 443)])],
      hash_seed: 0,
      local: {},
      source_validation: { mode: 'strict', allow: [], deny: [] },
    },
  });
  // The defaults are copied, not shared: a consumer mutating its state cannot change them.
  assert.notEqual(cfg.desired.timeouts, DEFAULT_TIMEOUTS);
});

test('minimal config, partial timeouts, empty sections, generic mode, weight 0', () => {
  assert.deepEqual(parseConfig(y(...IFACES), 'f').desired, {
    services: [], timeouts: DEFAULT_TIMEOUTS, hash_seed: 0, local: {}, source_validation: { mode: 'strict', allow: [], deny: [] },
  });
  const cfg = parseConfig(
    y(
      'interfaces: {public: eth0, private: eth1, xdp_mode: generic}',
      'timeouts:',
      '  udp: 60',
      'services:',
      '  - {vip: 192.0.2.1, port: 53, protocol: udp, reals: }',
      '  - reals: [{address: 10.0.0.2, weight: 0, port: 5353}]', // reals before port: default still known
      '    vip: 192.0.2.1',
      '    port: 53',
    ),
    'f',
  );
  assert.equal(cfg.interfaces.mode, 'generic');
  assert.deepEqual(cfg.desired.timeouts, { ...DEFAULT_TIMEOUTS, udp: 60 });
  assert.deepEqual(cfg.desired.services[0]?.reals, []);
  assert.deepEqual(cfg.desired.services[1]?.reals, [real('10.0.0.2', 5353, { weight: 0 })]);
  assert.deepEqual(parseConfig(y(...IFACES, 'services: []'), 'f').desired.services, []);
  assert.deepEqual(parseConfig(y(...IFACES, 'services:'), 'f').desired.services, []);
});

test('output is plain data', () => {
  const cfg = parseConfig(y(...IFACES, 'services:', '  - vip: 192.0.2.1', '    port: 1'), 'f');
  assert.deepEqual(JSON.parse(JSON.stringify(cfg)), cfg);
  assert.equal(Object.getPrototypeOf(cfg.desired.services[0]), Object.prototype);
});

test('error: bad address 10.0.0.256', () => {
  const e = expectError(
    y(...IFACES, 'services:', '  - vip: 203.0.113.100', '    port: 80', '    reals:', '      - address: 10.0.0.256'),
    { line: 8, column: 18, field: 'services[0].reals[0].address', value: '10.0.0.256', reason: 'must be an IPv4 (dotted quad) or IPv6 address' },
  );
  assert.equal(
    e.message,
    't.yaml:8:18: services[0].reals[0].address: must be an IPv4 (dotted quad) or IPv6 address (got "10.0.0.256")',
  );
});

test('error: vip with a leading zero', () => {
  expectError(y(...IFACES, 'services:', '  - vip: 010.0.0.1', '    port: 80'), {
    line: 5, column: 10, field: 'services[0].vip', value: '010.0.0.1', reason: 'must be an IPv4 (dotted quad) or IPv6 address',
  });
});

test('error: unknown field points at the key', () => {
  expectError(y(...IFACES, 'services:', '  - vip: 192.0.2.1', '    port: 80', '    shceduler: rr'), {
    line: 7, column: 5, field: 'services[0].shceduler', value: 'shceduler', reason: 'unknown field',
  });
  expectError(y(...IFACES, 'service: []'), { line: 4, column: 1, field: 'service', value: 'service', reason: 'unknown field' });
});

test('error: port 70000', () => {
  expectError(y(...IFACES, 'services:', '  - vip: 192.0.2.1', '    port: 70000'), {
    line: 6, column: 11, field: 'services[0].port', value: 70000, reason: 'must be an integer 1..65535 or all',
  });
});

test('error: port as a string', () => {
  const e = expectError(y(...IFACES, 'services:', '  - vip: 192.0.2.1', '    port: "80"'), {
    line: 6, column: 11, field: 'services[0].port', value: '80', reason: 'must be an integer 1..65535 or all',
  });
  assert.match(e.message, /\(got "80"\)$/);
});

test('error: port not written as a decimal integer', () => {
  expectError(y(...IFACES, 'services:', '  - vip: 192.0.2.1', '    port: 0x50'), {
    line: 6, column: 11, field: 'services[0].port', value: '0x50', reason: 'must be an integer 1..65535 or all',
  });
  expectError(y(...IFACES, 'services:', '  - vip: 192.0.2.1', '    port: 80.5'), {
    line: 6, column: 11, field: 'services[0].port', value: '80.5', reason: 'must be an integer 1..65535 or all',
  });
});

test('error: missing vip points at the service mapping', () => {
  const e = expectError(y(...IFACES, 'services:', '  - port: 80', '    scheduler: rr'), {
    line: 5, column: 5, field: 'services[0].vip', value: undefined, reason: 'required field missing',
  });
  assert.equal(e.message, 't.yaml:5:5: services[0].vip: required field missing (got undefined)');
});

test('error: missing interfaces (including an empty file)', () => {
  expectError(y('services: []'), { line: 1, column: 1, field: 'interfaces', value: undefined, reason: 'required field missing' });
  expectError('', { line: 1, column: 1, field: 'interfaces', value: undefined, reason: 'required field missing' });
  expectError(y('interfaces:', '  public: pub0'), {
    line: 2, column: 3, field: 'interfaces.private', value: undefined, reason: 'required field missing',
  });
});

test('error: duplicate service at the second one', () => {
  expectError(
    y(...IFACES, 'services:', '  - vip: 192.0.2.1', '    port: 80', '  - vip: 192.0.2.2', '    port: 80', '  - port: 80', '    vip: 192.0.2.1'),
    {
      line: 9, column: 11, field: 'services[2].port', value: 'tcp/192.0.2.1:80',
      reason: 'frontend already served by services[0].port',
    },
  );
});

test('same vip:port with another protocol is not a duplicate', () => {
  const cfg = parseConfig(y(...IFACES, 'services:', '  - {vip: 192.0.2.1, port: 53}', '  - {vip: 192.0.2.1, port: 53, protocol: udp}'), 'f');
  assert.equal(cfg.desired.services.length, 2);
});

test('error: duplicate real at the second one, after port defaulting', () => {
  expectError(
    y(
      ...IFACES,
      'services:',
      '  - vip: 192.0.2.1',
      '    port: 80',
      '    reals:',
      '      - address: 10.0.0.1',
      '      - address: 10.0.0.2',
      '      - address: 10.0.0.1',
      '        port: 80',
    ),
    {
      line: 10, column: 9, field: 'services[0].reals[2]', value: '10.0.0.1:80',
      reason: 'duplicate real: same address and port as services[0].reals[0]',
    },
  );
});

test('error: YAML syntax error carries the parser position', () => {
  const e = expectError(y(...IFACES, 'services: [', 'x: 1'), {
    line: 5, column: 1, field: '(yaml)', value: 'x: 1',
    reason: 'Flow sequence in block collection must be sufficiently indented and end with a ]',
  });
  assert.match(e.message, /^t\.yaml:5:1: \(yaml\): /);
});

test('error: duplicate key', () => {
  expectError(y(...IFACES, '  public: pub1'), { line: 4, column: 3, field: 'interfaces.public', value: 'public', reason: 'duplicate field' });
});

test('error: weight -1', () => {
  expectError(y(...IFACES, 'services:', '  - vip: 192.0.2.1', '    port: 80', '    reals:', '      - {address: 10.0.0.1, weight: -1}'), {
    line: 8, column: 37, field: 'services[0].reals[0].weight', value: -1, reason: 'must be an integer 0..65535',
  });
});

test('error: unknown scheduler', () => {
  expectError(y(...IFACES, 'services:', '  - vip: 192.0.2.1', '    port: 80', '    scheduler: lcx'), {
    line: 7, column: 16, field: 'services[0].scheduler', value: 'lcx', reason: 'must be one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh, fo, ovf',
  });
});

test('error: wrong protocol', () => {
  expectError(y(...IFACES, 'services:', '  - vip: 192.0.2.1', '    port: 80', '    protocol: sctp'), {
    line: 7, column: 15, field: 'services[0].protocol', value: 'sctp', reason: 'must be one of tcp, udp',
  });
  expectError(y(...IFACES, 'services:', '  - vip: 192.0.2.1', '    port: 80', '    protocol: TCP'), {
    line: 7, column: 15, field: 'services[0].protocol', value: 'TCP', reason: 'must be one of tcp, udp',
  });
});

test('error: public and private interface are the same', () => {
  expectError(y('interfaces:', '  public: eth0', '  private: eth0'), {
    line: 3, column: 12, field: 'interfaces.private', value: 'eth0', reason: 'must differ from interfaces.public',
  });
});

test('error: bad interface name, xdp_mode, timeout', () => {
  expectError(y('interfaces:', '  public: a-very-long-name0', '  private: priv0'), {
    line: 2, column: 11, field: 'interfaces.public', value: 'a-very-long-name0',
    reason: "must be a Linux interface name (1..15 bytes, no '/', ':' or whitespace)",
  });
  expectError(y('interfaces:', '  public: "eth0:1"', '  private: priv0'), {
    line: 2, column: 11, field: 'interfaces.public', value: 'eth0:1',
    reason: "must be a Linux interface name (1..15 bytes, no '/', ':' or whitespace)",
  });
  expectError(y(...IFACES, '  xdp_mode: skb'), {
    line: 4, column: 13, field: 'interfaces.xdp_mode', value: 'skb', reason: 'must be one of native, generic',
  });
  expectError(y(...IFACES, 'timeouts:', '  tcp: 0'), {
    line: 5, column: 8, field: 'timeouts.tcp', value: 0, reason: 'must be an integer 1..2147483',
  });
});

test('error: wrong container types', () => {
  expectError(y(...IFACES, 'services:', '  vip: 192.0.2.1'), {
    line: 5, column: 3, field: 'services', value: { vip: '192.0.2.1' }, reason: 'must be a list',
  });
  expectError(y('- a'), { line: 1, column: 1, field: '(root)', value: ['a'], reason: 'must be a mapping' });
  expectError(y(...IFACES, 'services:', '  -', '  - vip: 192.0.2.1'), {
    line: 5, column: 4, field: 'services[0]', value: null, reason: 'must be a mapping',
  });
});

test('error: the first problem in source order wins', () => {
  expectError(y('services:', '  - vip: 192.0.2.1', '    port: 0', 'interfaces:', '  public: pub0', '  public: x'), {
    line: 3, column: 11, field: 'services[0].port', value: 0, reason: 'must be an integer 1..65535 or all',
  });
});

test('error: unknown tag, multiple documents, unknown alias', () => {
  expectError(y(...IFACES, 'timeouts:', '  tcp: !seconds 5'), {
    line: 5, column: 8, field: '(yaml)', value: 'tcp: !seconds 5', reason: 'Unresolved tag: !seconds',
  });
  expectError(y(...IFACES, '---', 'x: 1'), {
    line: 4, column: 1, field: '(yaml)', value: '---',
    reason: 'Source contains multiple documents; please use YAML.parseAllDocuments()',
  });
  expectError(y(...IFACES, 'services: *nope'), {
    line: 4, column: 11, field: 'services', value: '*nope', reason: 'alias refers to no anchor',
  });
});

test('anchors may share a reals list', () => {
  const cfg = parseConfig(
    y(...IFACES, 'services:', '  - vip: 192.0.2.1', '    port: 80', '    reals: &r [{address: 10.0.0.1}]', '  - vip: 192.0.2.1', '    port: 81', '    reals: *r'),
    'f',
  );
  assert.deepEqual(cfg.desired.services.map((s) => s.reals[0]?.port), [80, 81]);
});

test('a byte-order mark does not shift columns', () => {
  expectError('\uFEFF' + y('interfaces: 1'), { line: 1, column: 13, field: 'interfaces', value: 1, reason: 'must be a mapping' });
});

test('loadConfig: unreadable file is a ConfigError at 0:0 (file)', async () => {
  await assert.rejects(loadConfig('/nonexistent/xlvs.yaml'), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.deepEqual([e.file, e.line, e.column, e.field, e.value], ['/nonexistent/xlvs.yaml', 0, 0, '(file)', '/nonexistent/xlvs.yaml']);
    assert.match(e.reason, /^cannot read: ENOENT/);
    return true;
  });
});

test('parseIPv4 / isIPv4 / formatIPv4 are strict', () => {
  assert.equal(parseIPv4('0.0.0.0'), 0);
  assert.equal(parseIPv4('255.255.255.255'), 0xffffffff);
  assert.equal(parseIPv4('10.77.0.11'), (10 * 2 ** 24) + (77 << 16) + 11);
  for (const bad of ['10.0.0.256', '010.0.0.1', '10.0.0', '10.0.0.1.2', ' 10.0.0.1', '10.0.0.1\n', '0x0a.0.0.1', '1e1.0.0.1', '', '10..0.1', '+1.0.0.0']) {
    assert.equal(parseIPv4(bad), null, bad);
    assert.equal(isIPv4(bad), false, bad);
  }
  assert.equal(isIPv4(42), false);
  assert.equal(formatIPv4(parseIPv4('203.0.113.100') as number), '203.0.113.100');
  assert.throws(() => formatIPv4(-1), RangeError);
});

// ---- issue 3: schedulers, methods, persistence, port groups, thresholds, IPv6 ----

const svcLines = (...lines: string[]): string => y(...IFACES, 'services:', ...lines);

test('every field: port group with also, mh with hash and table, persistence, methods, thresholds, seed, local', () => {
  const cfg = parseConfig(
    y(
      ...IFACES,
      'hash_seed: 4294967295',
      'local_addresses: { v4: 10.77.0.1, v6: "FD00:77::0001" }',
      'services:',
      '  - vip: 203.0.113.100',
      '    ports: [80, 443]',
      '    also:',
      '      - { vip: 203.0.113.101, port: all }',
      '      - { vip: 203.0.113.100, port: 53, protocol: udp }',
      '    scheduler: mh',
      '    persistence: { timeout: 600, netmask: 24 }',
      '    hash: { fallback: true, port: false }',
      '    mh_table_size: 251',
      '    reals:',
      '      - address: 10.77.0.11',
      '      - { address: 10.77.0.12, method: dr, weight: 3 }',
      '      - { address: 10.77.0.13, method: tun, upper_threshold: 100, lower_threshold: 50 }',
      '      - { address: 10.77.0.14, method: fullnat, port: 8080, upper_threshold: 10 }',
    ),
    'f',
  );
  assert.equal(cfg.desired.hash_seed, 4294967295);
  assert.deepEqual(cfg.desired.local, { v4: '10.77.0.1', v6: 'fd00:77::1' });
  assert.deepEqual(cfg.desired.services, [
    {
      vip: '203.0.113.100', port: 80, protocol: 'tcp', family: 4,
      frontends: [
        { vip: '203.0.113.100', port: 80, protocol: 'tcp' },
        { vip: '203.0.113.100', port: 443, protocol: 'tcp' },
        { vip: '203.0.113.101', port: 0, protocol: 'tcp' },
        { vip: '203.0.113.100', port: 53, protocol: 'udp' },
      ],
      scheduler: 'mh',
      persistence: { timeout: 600, netmask: 24 },
      hash: { fallback: true, port: false },
      mh_table_size: 251,
      reals: [
        real('10.77.0.11', 0), // several ports: keep the client's
        real('10.77.0.12', 0, { method: 'dr', weight: 3 }),
        real('10.77.0.13', 0, { method: 'tun', upper_threshold: 100, lower_threshold: 50 }),
        real('10.77.0.14', 8080, { method: 'fullnat', upper_threshold: 10 }),
      ],
    },
  ]);
});

test('IPv6 service: canonical addresses, default netmask 128, persistence as a number, port all', () => {
  const cfg = parseConfig(
    svcLines(
      '  - vip: 2001:DB8:0:0::1',
      '    port: all',
      '    scheduler: sh',
      '    persistence: 300',
      '    reals: [{ address: "fd00::0011" }, { address: "fd00::12", port: 0, method: dr }]',
    ),
    'f',
  );
  const s = cfg.desired.services[0]!;
  assert.equal(s.vip, '2001:db8::1');
  assert.equal(s.family, 6);
  assert.equal(s.port, 0);
  assert.deepEqual(s.persistence, { timeout: 300, netmask: 128 });
  assert.deepEqual(s.hash, { fallback: false, port: false });
  assert.deepEqual(s.reals.map((r) => [r.address, r.port]), [['fd00::11', 0], ['fd00::12', 0]]);
  // v4 persistence defaults: timeout 300, netmask 32.
  const v4 = parseConfig(svcLines('  - { vip: 192.0.2.1, port: 80, persistence: {} }'), 'f');
  assert.deepEqual(v4.desired.services[0]!.persistence, { timeout: 300, netmask: 32 });
  assert.equal(v4.desired.services[0]!.scheduler, 'wlc');
});

test('dr/tun reals default to port 0; a single-port service may name its own port for them', () => {
  const cfg = parseConfig(
    y(...IFACES, 'local_addresses: { v4: 10.77.0.1 }', 'services:', '  - vip: 192.0.2.1', '    port: 80',
      '    reals: [{ address: 10.0.0.1, method: dr }, { address: 10.0.0.2, method: tun, port: 80 }, { address: 10.0.0.3 }]'),
    'f',
  );
  assert.deepEqual(cfg.desired.services[0]!.reals.map((r) => r.port), [0, 80, 80]);
});

test('a port-all frontend and a specific port of the same vip+protocol coexist', () => {
  const cfg = parseConfig(svcLines('  - { vip: 192.0.2.1, port: all }', '  - { vip: 192.0.2.1, port: 80 }'), 'f');
  assert.deepEqual(cfg.desired.services.map((s) => s.port), [0, 80]);
});

test('local_addresses may come after the services that need it', () => {
  const cfg = parseConfig(
    y(...IFACES, 'services:', '  - { vip: 192.0.2.1, port: 80, reals: [{ address: 10.0.0.1, method: fullnat }] }', 'local_addresses:', '  v4: 10.0.0.254'),
    'f',
  );
  assert.equal(cfg.desired.services[0]!.reals[0]!.method, 'fullnat');
});

test('examples parse: lab, every issue-3 example and health', async () => {
  for (const name of ['lab.yaml', 'port-groups.yaml', 'methods.yaml', 'ipv6.yaml', 'health.yaml', 'source-validation.yaml']) {
    const path = fileURLToPath(new URL(`../../../examples/${name}`, import.meta.url));
    const cfg = await loadConfig(path);
    assert.ok(cfg.desired.services.length > 0, name);
  }
});

test('errors: frontends', () => {
  expectError(svcLines('  - { vip: 192.0.2.1, port: all }', '  - { vip: 192.0.2.1, port: all }'), {
    line: 6, column: 29, field: 'services[1].port', value: 'tcp/192.0.2.1:*', reason: 'frontend already served by services[0].port',
  });
  expectError(svcLines('  - { vip: 192.0.2.1, port: 80 }', '  - vip: 192.0.2.2', '    port: 80', '    also: [{ vip: 192.0.2.1, port: 80 }]'), {
    line: 8, column: 19, field: 'services[1].also[0]', value: 'tcp/192.0.2.1:80', reason: 'frontend already served by services[0].port',
  });
  expectError(svcLines('  - { vip: 192.0.2.1, ports: [80, 443, 80] }'), {
    line: 5, column: 40, field: 'services[0].ports[2]', value: 'tcp/192.0.2.1:80', reason: 'frontend already served by services[0].ports[0]',
  });
  expectError(svcLines('  - { vip: 192.0.2.1, port: 80, ports: [443] }'), {
    line: 5, column: 40, field: 'services[0].ports', value: [443], reason: 'give either port or ports, not both (services[0].port is set)',
  });
  expectError(svcLines('  - { vip: 192.0.2.1 }'), {
    line: 5, column: 5, field: 'services[0].port', value: undefined, reason: 'required field missing (port or ports)',
  });
  expectError(svcLines('  - { vip: 192.0.2.1, ports: [] }'), {
    line: 5, column: 30, field: 'services[0].ports', value: [], reason: 'must list at least one port',
  });
  expectError(svcLines('  - { vip: 192.0.2.1, ports: [all] }'), {
    line: 5, column: 31, field: 'services[0].ports[0]', value: 'all', reason: 'must be an integer 1..65535',
  });
  expectError(svcLines('  - { vip: 192.0.2.1, port: any }'), {
    line: 5, column: 29, field: 'services[0].port', value: 'any', reason: 'must be an integer 1..65535 or all',
  });
  expectError(svcLines('  - { vip: 192.0.2.1, port: 80, also: [{ vip: "2001:db8::1", port: 80 }] }'), {
    line: 5, column: 47, field: 'services[0].also[0].vip', value: '2001:db8::1', reason: 'must be an IPv4 address like services[0].vip',
  });
  expectError(svcLines('  - { vip: 192.0.2.1, port: 80, also: [{ vip: 192.0.2.2 }] }'), {
    line: 5, column: 40, field: 'services[0].also[0].port', value: undefined, reason: 'required field missing',
  });
});

test('errors: addresses (IPv6 zone ids, v4-mapped, family of reals and local addresses)', () => {
  expectError(svcLines('  - { vip: "fe80::1%eth0", port: 80 }'), {
    line: 5, column: 12, field: 'services[0].vip', value: 'fe80::1%eth0', reason: 'must be an IPv4 (dotted quad) or IPv6 address',
  });
  expectError(svcLines('  - { vip: "::ffff:192.0.2.1", port: 80 }'), {
    line: 5, column: 12, field: 'services[0].vip', value: '::ffff:192.0.2.1', reason: 'is an IPv4-mapped IPv6 address: write the IPv4 address',
  });
  expectError(svcLines('  - { vip: 192.0.2.1, port: 80, reals: [{ address: 10.0.0.1 }, { address: "fd00::1" }] }'), {
    line: 5, column: 75, field: 'services[0].reals[1].address', value: 'fd00::1', reason: "must be an IPv4 address like the service's VIP",
  });
  expectError(y(...IFACES, 'local_addresses: { v4: "fd00::1" }'), {
    line: 4, column: 24, field: 'local_addresses.v4', value: 'fd00::1', reason: 'must be an IPv4 address (dotted quad)',
  });
  expectError(y(...IFACES, 'local_addresses: { v6: 10.0.0.1 }'), {
    line: 4, column: 24, field: 'local_addresses.v6', value: '10.0.0.1', reason: 'must be an IPv6 address',
  });
  expectError(y(...IFACES, 'local_addresses: { v5: 10.0.0.1 }'), {
    line: 4, column: 20, field: 'local_addresses.v5', value: 'v5', reason: 'unknown field',
  });
});

test('errors: scheduler options', () => {
  expectError(svcLines('  - { vip: 192.0.2.1, port: 80, hash: { fallback: true } }'), {
    line: 5, column: 39, field: 'services[0].hash', value: { fallback: true, port: false }, reason: 'only for schedulers sh, mh (scheduler is wlc)',
  });
  expectError(svcLines('  - { vip: 192.0.2.1, port: 80, scheduler: sh, mh_table_size: 251 }'), {
    line: 5, column: 63, field: 'services[0].mh_table_size', value: 251, reason: 'only for scheduler mh (scheduler is sh)',
  });
  expectError(svcLines('  - { vip: 192.0.2.1, port: 80, scheduler: mh, mh_table_size: 65536 }'), {
    line: 5, column: 63, field: 'services[0].mh_table_size', value: 65536, reason: 'must be a prime 2..1048573 (Maglev needs a prime table size)',
  });
  // 3 reals need at least 4 slots: 3 is refused where it is written, 5 is accepted.
  const mh = (size: number) => svcLines(
    '  - vip: 192.0.2.1', '    port: 80', '    scheduler: mh', `    mh_table_size: ${size}`,
    '    reals: [ { address: 10.0.0.1 }, { address: 10.0.0.2 }, { address: 10.0.0.3, weight: 0 } ]',
  );
  expectError(mh(3), {
    line: 8, column: 20, field: 'services[0].mh_table_size', value: 3,
    reason: 'must be larger than the number of reals (3): Maglev gives each real at least one slot',
  });
  assert.equal(parseConfig(mh(5), 't.yaml').desired.services[0]!.mh_table_size, 5);
  expectError(svcLines('  - { vip: 192.0.2.1, port: 80, scheduler: mh, mh_table_size: 2000000 }'), {
    line: 5, column: 63, field: 'services[0].mh_table_size', value: 2000000, reason: 'must be a prime 2..1048573',
  });
  expectError(svcLines('  - { vip: 192.0.2.1, port: 80, scheduler: sh, hash: { fallback: yes } }'), {
    line: 5, column: 66, field: 'services[0].hash.fallback', value: 'yes', reason: 'must be true or false',
  });
  expectError(y(...IFACES, 'hash_seed: 4294967296'), {
    line: 4, column: 12, field: 'hash_seed', value: 4294967296, reason: 'must be an integer 0..4294967295',
  });
});

test('errors: persistence', () => {
  expectError(svcLines('  - { vip: 192.0.2.1, port: 80, persistence: { netmask: 33 } }'), {
    line: 5, column: 57, field: 'services[0].persistence.netmask', value: 33, reason: 'must be a prefix length 0..32 for an IPv4 service',
  });
  expectError(svcLines('  - { vip: "2001:db8::1", port: 80, persistence: { netmask: 129 } }'), {
    line: 5, column: 61, field: 'services[0].persistence.netmask', value: 129, reason: 'must be an integer 0..128',
  });
  expectError(svcLines('  - { vip: 192.0.2.1, port: 80, persistence: 0 }'), {
    line: 5, column: 46, field: 'services[0].persistence', value: 0, reason: 'must be a timeout 1..2147483 (seconds) or a mapping {timeout, netmask}',
  });
  expectError(svcLines('  - { vip: 192.0.2.1, port: 80, persistence: { timeout: 0 } }'), {
    line: 5, column: 57, field: 'services[0].persistence.timeout', value: 0, reason: 'must be an integer 1..2147483',
  });
});

test('errors: reals (method, dr/tun port, local address, thresholds, count)', () => {
  const one = (r: string) => svcLines('  - vip: 192.0.2.1', '    port: 80', '    reals:', `      - ${r}`);
  expectError(one('{ address: 10.0.0.1, method: dsr }'), {
    line: 8, column: 38, field: 'services[0].reals[0].method', value: 'dsr', reason: 'must be one of nat, dr, tun, fullnat',
  });
  expectError(one('{ address: 10.0.0.1, method: dr, port: 8080 }'), {
    line: 8, column: 48, field: 'services[0].reals[0].port', value: 8080,
    reason: 'must be 0 (keep) or 80: dr cannot change the destination port and the service answers on port 80',
  });
  expectError(one('{ address: 10.0.0.1, method: tun }'), {
    line: 8, column: 38, field: 'services[0].reals[0].method', value: 'tun', reason: 'needs local_addresses.v4 (the tunnel source), which is not set',
  });
  expectError(one('{ address: 10.0.0.1, method: fullnat }'), {
    line: 8, column: 38, field: 'services[0].reals[0].method', value: 'fullnat', reason: 'needs local_addresses.v4 (the source NAT address), which is not set',
  });
  expectError(one('{ address: 10.0.0.1, upper_threshold: 10, lower_threshold: 11 }'), {
    line: 8, column: 68, field: 'services[0].reals[0].lower_threshold', value: 11, reason: 'must be <= upper_threshold (10)',
  });
  expectError(one('{ address: 10.0.0.1, lower_threshold: 5 }'), {
    line: 8, column: 47, field: 'services[0].reals[0].lower_threshold', value: 5, reason: 'needs an upper_threshold (0 = none is set)',
  });
  expectError(one('{ address: 10.0.0.1, upper_threshold: -1 }'), {
    line: 8, column: 47, field: 'services[0].reals[0].upper_threshold', value: -1, reason: 'must be an integer 0..4294967295',
  });
  expectError(one('{ address: 10.0.0.1, port: 65536 }'), {
    line: 8, column: 36, field: 'services[0].reals[0].port', value: 65536, reason: "must be an integer 0..65535 (0 = keep the client's port)",
  });
  const many = Array.from({ length: 257 }, (_, i) => `      - { address: 10.0.${i >> 8}.${i & 255} }`);
  expectError(svcLines('  - vip: 192.0.2.1', '    port: 80', '    reals:', ...many), {
    line: 264, column: 9, field: 'services[0].reals[256]', value: '10.0.1.0:80', reason: 'too many reals: a service has at most 256',
  });
});

test('flow_entries: the connection table size, default XLVS_MAX_FLOWS, bounded', () => {
  assert.equal(parseConfig(y(...IFACES), 'f').flowEntries, 1_048_576);
  assert.equal(parseConfig(y(...IFACES, 'flow_entries: 2097152'), 'f').flowEntries, 2_097_152);
  expectError(y(...IFACES, 'flow_entries: 100'), { line: 4, column: 15, field: 'flow_entries', value: 100, reason: 'must be an integer 4096..67108864' });
  expectError(y(...IFACES, 'flow_entries: 67108865'), { line: 4, column: 15, field: 'flow_entries', value: 67108865, reason: 'must be an integer 4096..67108864' });
});
