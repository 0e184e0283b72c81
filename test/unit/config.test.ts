// SPDX-License-Identifier: Apache-2.0
// The config loader: the lab example, defaults, and the exact position/field/reason of each error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/errors.js';
import { formatIPv4, isIPv4, loadConfig, parseConfig, parseIPv4 } from '../../src/config/index.js';
import type { Config } from '../../src/config/index.js';
import { DEFAULT_TIMEOUTS } from '../../src/model/types.js';
import type { Protocol, RealSpec, SchedulerName, ServiceSpec } from '../../src/model/types.js';

// dist/test/unit/config.test.js → repo root is three levels up.
const LAB = fileURLToPath(new URL('../../../examples/lab.yaml', import.meta.url));

/** Joins lines so that each test's line numbers can be read straight off the array. */
const y = (...lines: string[]): string => lines.join('\n') + '\n';

const IFACES = ['interfaces:', '  public: pub0', '  private: priv0'];

interface Expected {
  line: number;
  column: number;
  field: string;
  value: unknown;
  reason: string;
}

function expectError(text: string, want: Expected): ConfigError {
  let caught: unknown;
  try {
    parseConfig(text, 't.yaml');
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  const { line, column, field, value, reason } = caught;
  assert.deepEqual({ line, column, field, value, reason }, want);
  assert.equal(caught.file, 't.yaml');
  assert.equal(caught.code, 'E_CONFIG');
  return caught;
}

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
    desired: {
      timeouts: { tcp: 900, tcp_fin: 120, tcp_close: 10, udp: 300 },
      services: [
        svc('203.0.113.100', 80, 'tcp', 'rr', reals(80)),
        svc('203.0.113.100', 9000, 'tcp', 'wrr', reals(9000)),
        svc('203.0.113.100', 5353, 'udp', 'rr', reals(5353)),
      ],
      hash_seed: 0,
      local: {},
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
    desired: {
      timeouts: DEFAULT_TIMEOUTS,
      services: [svc('192.0.2.1', 443, 'tcp', 'wlc', [real('10.0.0.1', 443)])],
      hash_seed: 0,
      local: {},
    },
  });
  // The defaults are copied, not shared: a consumer mutating its state cannot change them.
  assert.notEqual(cfg.desired.timeouts, DEFAULT_TIMEOUTS);
});

test('minimal config, partial timeouts, empty sections, generic mode, weight 0', () => {
  assert.deepEqual(parseConfig(y(...IFACES), 'f').desired, { services: [], timeouts: DEFAULT_TIMEOUTS, hash_seed: 0, local: {} });
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
