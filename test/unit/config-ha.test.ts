// SPDX-License-Identifier: Apache-2.0
// The `ha:` section of the config: defaults, the key read at load (and carried back from the
// loader thread as a Buffer), the two-router examples, and each field's error: position, field,
// value and reason.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expectConfigError as expectError, IFACES, y, type ConfigErrorWant } from './config-text.js';
import { loadConfig, parseConfig } from '../../src/config/index.js';
import { loadConfigOffThread } from '../../src/config/load-off-thread.js';

const dir = mkdtempSync(join(tmpdir(), 'xlvs-config-ha-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const KEY_TEXT = '0123456789abcdef0123456789abcdef-the-key';
const KEY = Buffer.from(KEY_TEXT);
const KEY_FILE = join(dir, 'ha.key');
writeFileSync(KEY_FILE, KEY_TEXT, { mode: 0o600 });

/** A minimal valid section: lines 4..9 of the file. */
const HA = [
  'ha:',
  '  node: r1',
  '  priority: 150',
  '  local: { public: 203.0.113.11, private: 10.77.0.2 }',
  '  peer: { name: r2, public: 203.0.113.12, private: 10.77.0.3 }',
  `  key_file: ${KEY_FILE}`,
];
/** The minimal section with `extra` lines appended (line 10 on). */
const withHa = (...extra: string[]): string => y(...IFACES, ...HA, ...extra);
/** The minimal section with the line starting `  key:` replaced (or removed, for undefined). */
const replaced = (key: string, line: string | undefined): string =>
  y(...IFACES, ...HA.flatMap((l) => (l.startsWith(`  ${key}:`) ? (line === undefined ? [] : [line]) : [l])));

type Want = ConfigErrorWant;
const at = (line: number, column: number, field: string, value: unknown, reason: string): Want => ({ line, column, field, value, reason });

test('no ha: section: ha is undefined', () => {
  const cfg = parseConfig(y(...IFACES), 't.yaml');
  assert.equal(cfg.ha, undefined);
  assert.equal('ha' in cfg, false);
});

test('the minimal section: the defaults, and the key read from key_file', () => {
  const ha = parseConfig(withHa(), 't.yaml').ha!;
  assert.deepEqual({ ...ha, key: ha.key.toString() }, {
    node: 'r1', priority: 150,
    local: { public: '203.0.113.11', private: '10.77.0.2' },
    peer: { name: 'r2', public: '203.0.113.12', private: '10.77.0.3' },
    port: 7707, syncPort: 7708, intervalMs: 100, deadIntervals: 3,
    key: KEY.toString(), keyFile: KEY_FILE,
    preempt: true, preemptDelayMs: 0, restartHoldMs: 10000, maxSkewMs: 5000,
    gateway: [], announce: { count: 3, spacingMs: 10, refreshMs: 0 },
  });
  assert.ok(Buffer.isBuffer(ha.key));
});

test('every optional field, IPv6 addresses kept canonical', () => {
  const ha = parseConfig(y(...IFACES,
    'ha:',
    '  node: a.B_c-9',
    '  priority: 254',
    '  local: { public: "2001:DB8:1:0::11", private: 10.77.0.2 }',
    '  peer: { name: b, public: "2001:db8:1::12", private: 10.77.0.3 }',
    `  key_file: ${KEY_FILE}`,
    '  port: 1', '  sync_port: 65535', '  interval_ms: 10', '  dead_intervals: 100',
    '  preempt: false', '  preempt_delay_ms: 3600000', '  restart_hold_ms: 120000', '  max_skew_ms: 100',
    '  gateway: [10.77.0.1, "FD00:77:0::1"]',
    '  announce: { count: 20, spacing_ms: 1000, refresh_ms: 3600000 }',
  ), 't.yaml').ha!;
  assert.equal(ha.node, 'a.B_c-9');
  assert.deepEqual(ha.local, { public: '2001:db8:1::11', private: '10.77.0.2' });
  assert.deepEqual([ha.port, ha.syncPort, ha.intervalMs, ha.deadIntervals], [1, 65535, 10, 100]);
  assert.deepEqual([ha.preempt, ha.preemptDelayMs, ha.restartHoldMs, ha.maxSkewMs], [false, 3600000, 120000, 100]);
  assert.deepEqual(ha.gateway, ['10.77.0.1', 'fd00:77::1']);
  assert.deepEqual(ha.announce, { count: 20, spacingMs: 1000, refreshMs: 3600000 });
  const low = parseConfig(withHa('  announce: { count: 1, spacing_ms: 0, refresh_ms: 1000 }', '  preempt_delay_ms: 0', '  restart_hold_ms: 0'), 't.yaml').ha!;
  assert.deepEqual(low.announce, { count: 1, spacingMs: 0, refreshMs: 1000 });
});

test('errors: the required fields', () => {
  expectError(y(...IFACES, 'ha:'), at(4, 4, 'ha.node', undefined, 'required field missing'));
  expectError(y(...IFACES, 'ha: on'), at(4, 5, 'ha', 'on', 'must be a mapping'));
  for (const [key, field] of [['node', 'ha.node'], ['priority', 'ha.priority'], ['local', 'ha.local'], ['peer', 'ha.peer'], ['key_file', 'ha.key_file']]) {
    expectError(replaced(key!, undefined), at(5, 3, field!, undefined, 'required field missing'));
  }
  expectError(replaced('local', '  local: { public: 203.0.113.11 }'), at(7, 10, 'ha.local.private', undefined, 'required field missing'));
  expectError(replaced('peer', '  peer: { public: 203.0.113.12, private: 10.77.0.3 }'), at(8, 9, 'ha.peer.name', undefined, 'required field missing'));
  expectError(withHa('  vrid: 7'), at(10, 3, 'ha.vrid', 'vrid', 'unknown field'));
  expectError(withHa('  port: 7707', '  port: 7707'), at(11, 3, 'ha.port', 'port', 'duplicate field'));
});

test('errors: node, priority, peer name', () => {
  const NAME = 'must be 1..32 of A-Z a-z 0-9 . _ -';
  expectError(replaced('node', '  node: r 1'), at(5, 9, 'ha.node', 'r 1', NAME));
  expectError(replaced('node', '  node: ""'), at(5, 9, 'ha.node', '', NAME));
  expectError(replaced('node', `  node: ${'a'.repeat(33)}`), at(5, 9, 'ha.node', 'a'.repeat(33), NAME));
  expectError(replaced('node', '  node: 12'), at(5, 9, 'ha.node', 12, NAME));
  expectError(replaced('node', '  node: r/1'), at(5, 9, 'ha.node', 'r/1', NAME));
  expectError(replaced('priority', '  priority: 0'), at(6, 13, 'ha.priority', 0, 'must be an integer 1..254'));
  expectError(replaced('priority', '  priority: 255'), at(6, 13, 'ha.priority', 255, 'must be an integer 1..254'));
  expectError(replaced('priority', '  priority: "100"'), at(6, 13, 'ha.priority', '100', 'must be an integer 1..254'));
  expectError(replaced('peer', '  peer: { name: r1, public: 203.0.113.12, private: 10.77.0.3 }'), at(8, 17, 'ha.peer.name', 'r1', 'must differ from ha.node'));
  expectError(replaced('peer', '  peer: { name: "r:2", public: 203.0.113.12, private: 10.77.0.3 }'), at(8, 17, 'ha.peer.name', 'r:2', NAME));
});

test('errors: local and peer addresses (family, equality)', () => {
  expectError(replaced('local', '  local: { public: 203.0.113.300, private: 10.77.0.2 }'), at(7, 20, 'ha.local.public', '203.0.113.300', 'must be an IPv4 (dotted quad) or IPv6 address'));
  expectError(replaced('local', '  local: { public: 203.0.113.11, private: eth0 }'), at(7, 43, 'ha.local.private', 'eth0', 'must be an IPv4 (dotted quad) or IPv6 address'));
  expectError(replaced('peer', '  peer: { name: r2, public: "2001:db8:1::12", private: 10.77.0.3 }'),
    at(8, 29, 'ha.peer.public', '2001:db8:1::12', 'must be of the family of ha.local.public (IPv4)'));
  expectError(replaced('peer', '  peer: { name: r2, public: 203.0.113.12, private: "fd00:77::3" }'),
    at(8, 52, 'ha.peer.private', 'fd00:77::3', 'must be of the family of ha.local.private (IPv4)'));
  expectError(replaced('peer', '  peer: { name: r2, public: 203.0.113.11, private: 10.77.0.3 }'),
    at(8, 29, 'ha.peer.public', '203.0.113.11', 'must differ from ha.local.public'));
  expectError(replaced('peer', '  peer: { name: r2, public: 203.0.113.12, private: 10.77.0.2 }'),
    at(8, 52, 'ha.peer.private', '10.77.0.2', 'must differ from ha.local.private'));
  expectError(replaced('peer', '  peer: { name: r2, public: 203.0.113.12, private: 10.77.0.3, role: master }'),
    at(8, 63, 'ha.peer.role', 'role', 'unknown field'));
});

test('errors: ports and timings', () => {
  expectError(withHa('  port: 0'), at(10, 9, 'ha.port', 0, 'must be an integer 1..65535'));
  expectError(withHa('  port: 65536'), at(10, 9, 'ha.port', 65536, 'must be an integer 1..65535'));
  expectError(withHa('  sync_port: 0x1e1c'), at(10, 14, 'ha.sync_port', '0x1e1c', 'must be an integer 1..65535'));
  expectError(withHa('  sync_port: 7707'), at(10, 14, 'ha.sync_port', 7707, 'must differ from ha.port'));
  expectError(withHa('  port: 7708'), at(10, 9, 'ha.port', 7708, 'must differ from ha.sync_port'));
  expectError(withHa('  port: 9', '  sync_port: 9'), at(11, 14, 'ha.sync_port', 9, 'must differ from ha.port'));
  expectError(withHa('  interval_ms: 9'), at(10, 16, 'ha.interval_ms', 9, 'must be an integer 10..10000'));
  expectError(withHa('  interval_ms: 10001'), at(10, 16, 'ha.interval_ms', 10001, 'must be an integer 10..10000'));
  expectError(withHa('  dead_intervals: 1'), at(10, 19, 'ha.dead_intervals', 1, 'must be an integer 2..100'));
  expectError(withHa('  dead_intervals: 101'), at(10, 19, 'ha.dead_intervals', 101, 'must be an integer 2..100'));
  expectError(withHa('  preempt: yes'), at(10, 12, 'ha.preempt', 'yes', 'must be true or false'));
  expectError(withHa('  preempt_delay_ms: -1'), at(10, 21, 'ha.preempt_delay_ms', -1, 'must be an integer 0..3600000'));
  expectError(withHa('  preempt_delay_ms: 3600001'), at(10, 21, 'ha.preempt_delay_ms', 3600001, 'must be an integer 0..3600000'));
  expectError(withHa('  restart_hold_ms: 120001'), at(10, 20, 'ha.restart_hold_ms', 120001, 'must be an integer 0..120000'));
  expectError(withHa('  max_skew_ms: 99'), at(10, 16, 'ha.max_skew_ms', 99, 'must be an integer 100..600000'));
  expectError(withHa('  max_skew_ms: 600001'), at(10, 16, 'ha.max_skew_ms', 600001, 'must be an integer 100..600000'));
});

test('errors: announce', () => {
  expectError(withHa('  announce: 3'), at(10, 13, 'ha.announce', 3, 'must be a mapping'));
  expectError(withHa('  announce: { count: 0 }'), at(10, 22, 'ha.announce.count', 0, 'must be an integer 1..20'));
  expectError(withHa('  announce: { count: 21 }'), at(10, 22, 'ha.announce.count', 21, 'must be an integer 1..20'));
  expectError(withHa('  announce: { spacing_ms: 1001 }'), at(10, 27, 'ha.announce.spacing_ms', 1001, 'must be an integer 0..1000'));
  const REFRESH = 'must be 0 (no refresh) or an integer 1000..3600000';
  expectError(withHa('  announce: { refresh_ms: 999 }'), at(10, 27, 'ha.announce.refresh_ms', 999, REFRESH));
  expectError(withHa('  announce: { refresh_ms: 3600001 }'), at(10, 27, 'ha.announce.refresh_ms', 3600001, REFRESH));
  expectError(withHa('  announce: { burst: 2 }'), at(10, 15, 'ha.announce.burst', 'burst', 'unknown field'));
});

test('errors: gateway (each once, not a VIP, not an own or local address)', () => {
  expectError(withHa('  gateway: 10.77.0.1'), at(10, 12, 'ha.gateway', '10.77.0.1', 'must be a list'));
  expectError(withHa('  gateway: [10.77.0.1, gw]'), at(10, 24, 'ha.gateway[1]', 'gw', 'must be an IPv4 (dotted quad) or IPv6 address'));
  expectError(withHa('  gateway: [10.77.0.1, "fd00:77::1", "FD00:77::1"]'), at(10, 38, 'ha.gateway[2]', 'fd00:77::1', 'is listed twice'));
  expectError(withHa('  gateway: [10.77.0.2]'), at(10, 13, 'ha.gateway[0]', '10.77.0.2', "must differ from ha.local.private (this router's own address)"));
  expectError(withHa('  gateway: [10.77.0.3]'), at(10, 13, 'ha.gateway[0]', '10.77.0.3', "must differ from ha.peer.private (the peer's own address)"));
  expectError(y(...IFACES, 'local_addresses: { v4: 10.77.0.1 }', ...HA, '  gateway: [10.77.0.1]'),
    at(11, 13, 'ha.gateway[0]', '10.77.0.1', 'must differ from local_addresses (both float, each is one address)'));
  // The services come after ha: the VIP check waits for them.
  expectError(y(...IFACES, ...HA, '  gateway: [10.77.0.1, 203.0.113.100]', 'services:', '  - { vip: 203.0.113.100, port: 80 }'),
    at(10, 24, 'ha.gateway[1]', '203.0.113.100', 'is a VIP of a service: a gateway address must be another'));
});

test('errors: key_file (names the path, never the key)', () => {
  const keyAt = (file: string, reason: string) => expectError(replaced('key_file', `  key_file: ${file}`), at(9, 13, 'ha.key_file', file, reason));
  expectError(replaced('key_file', '  key_file: ha.key'), at(9, 13, 'ha.key_file', 'ha.key', 'must be an absolute path'));
  expectError(replaced('key_file', '  key_file: 7'), at(9, 13, 'ha.key_file', 7, 'must be an absolute path'));
  keyAt(join(dir, 'none'), 'cannot read the key file: ENOENT');
  keyAt(dir, 'must be a regular file');
  const short = join(dir, 'short.key');
  writeFileSync(short, 'secret-but-31-bytes-long-abcdef', { mode: 0o600 });
  const e = keyAt(short, 'the key file holds 31 bytes: the key must be at least 32');
  assert.ok(!e.message.includes('secret'), e.message);
  const long = join(dir, 'long.key');
  writeFileSync(long, 'k'.repeat(4097), { mode: 0o600 });
  keyAt(long, 'the key file holds 4097 bytes: a key is at most 4096');
  const open = join(dir, 'open.key');
  writeFileSync(open, KEY_TEXT);
  chmodSync(open, 0o644);
  const e2 = keyAt(open, 'must not be readable (nor writable) by group or others: mode is 0644, chmod 600 it');
  assert.ok(!e2.message.includes(KEY.toString()), e2.message);
  chmodSync(open, 0o640);
  keyAt(open, 'must not be readable (nor writable) by group or others: mode is 0640, chmod 600 it');
  const exact = join(dir, 'exact.key');
  writeFileSync(exact, 'k'.repeat(32), { mode: 0o400 });
  assert.equal(parseConfig(replaced('key_file', `  key_file: ${exact}`), 't.yaml').ha!.key.toString(), 'k'.repeat(32));
});

test('the key crosses from the loader thread as a Buffer', async () => {
  const file = join(dir, 'thread.yaml');
  writeFileSync(file, withHa('  gateway: [10.77.0.1]'));
  const [here, there] = [await loadConfig(file), await loadConfigOffThread(file)];
  assert.ok(Buffer.isBuffer(there.ha!.key), 'a Buffer');
  assert.equal(there.ha!.key.toString('hex'), KEY.toString('hex'));
  assert.deepEqual({ ...there.ha!, key: null }, { ...here.ha!, key: null });
  const plain = join(dir, 'plain.yaml');
  writeFileSync(plain, y(...IFACES));
  assert.equal((await loadConfigOffThread(plain)).ha, undefined);
});

test('examples/ha-r1.yaml and ha-r2.yaml load (key_file pointed at a test key), as a pair', async () => {
  const [r1, r2] = await Promise.all(['ha-r1.yaml', 'ha-r2.yaml'].map(async (name) => {
    const text = readFileSync(fileURLToPath(new URL(`../../../examples/${name}`, import.meta.url)), 'utf8');
    assert.ok(text.includes('key_file: /etc/xlvs/ha.key'), name);
    const file = join(dir, name);
    writeFileSync(file, text.replace('key_file: /etc/xlvs/ha.key', `key_file: ${KEY_FILE}`));
    return loadConfig(file);
  }));
  const [a, b] = [r1!.ha!, r2!.ha!];
  assert.deepEqual([a.node, a.peer.name, b.node, b.peer.name], ['r1', 'r2', 'r2', 'r1']);
  assert.deepEqual(a.local, { public: b.peer.public, private: b.peer.private });
  assert.deepEqual(b.local, { public: a.peer.public, private: a.peer.private });
  assert.ok(a.priority > b.priority);
  assert.deepEqual(a.gateway, ['10.77.0.1', 'fd00:77::1']);
  assert.deepEqual(r1!.desired.local, { v4: '10.77.0.5', v6: 'fd00:77::5' });
  assert.deepEqual(r1!.desired.services, r2!.desired.services);
  assert.deepEqual(r1!.desired.services.map((s) => `${s.protocol}/${s.vip}:${s.port} ${s.reals.map((r) => r.address).join(',')}`), [
    'tcp/203.0.113.100:9000 10.77.0.11,10.77.0.12,10.77.0.13',
    'udp/203.0.113.100:5353 10.77.0.11,10.77.0.12,10.77.0.13',
    'tcp/2001:db8:1::100:9000 fd00:77::11,fd00:77::12,fd00:77::13',
  ]);
});
