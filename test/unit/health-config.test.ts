// SPDX-License-Identifier: Apache-2.0
// `check:`, `sorry_server`, `quorum` and `health:` in the config file (config/check.ts): every
// type reads into a CheckSpec with defaults, and every mistake is a ConfigError at the field.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import { CHECK_DEFAULTS } from '../../src/health/types.js';

const HEAD = ['interfaces: { public: pub0, private: priv0 }', 'services:', '  - vip: 203.0.113.100', '    port: 80'];
const REALS = ['    reals:', '      - { address: 10.77.0.11 }', '      - { address: 10.77.0.12 }'];
const conf = (...lines: string[]): string => [...HEAD, ...lines, ''].join('\n');
const svc = (text: string) => parseConfig(text, 't.yaml').desired.services[0]!;

function rejects(text: string, field: string, ...parts: string[]): void {
  assert.throws(() => parseConfig(text, 't.yaml'), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.field, field, e.message);
    for (const p of parts) assert.ok(e.message.includes(p), `${e.message} should mention ${p}`);
    return true;
  });
}

test('a tcp check with defaults; reals inherit it; health limits default', () => {
  const cfg = parseConfig(conf('    check: { type: tcp }', ...REALS), 't.yaml');
  const s = cfg.desired.services[0]!;
  assert.deepEqual(s.check, { type: 'tcp', options: { ...CHECK_DEFAULTS }, remove_flows: 'drop', params: {} });
  assert.equal(s.reals[0]!.check, undefined, 'no own check: the service\'s applies');
  assert.deepEqual(cfg.health, { maxProbes: 4096, maxExec: 16, synChecks: true });
});

test('every common option, send/expect, a check address and port, a real with its own check and one with none', () => {
  const s = svc(conf(
    '    check:',
    '      type: tcp',
    '      interval_ms: 500',
    '      timeout_ms: 200',
    '      rise: 3',
    '      fall: 1',
    '      initial: up',
    '      jitter: 0.5',
    '      reentry_ms: 2000',
    '      slow_start_ms: 10000',
    '      on_failure: remove',
    '      remove_flows: reset',
    '      port: 7070',
    "      send: 'PING\\n'",
    '      expect: "/^PONG/"',
    '    reals:',
    '      - { address: 10.77.0.11, check: { type: udp, send: "x", expect: "*", address: 10.77.0.50 } }',
    '      - { address: 10.77.0.12, check: none }',
  ));
  assert.deepEqual(s.check, {
    type: 'tcp',
    options: { interval_ms: 500, timeout_ms: 200, rise: 3, fall: 1, initial: 'up', jitter: 0.5, reentry_ms: 2000, slow_start_ms: 10000, on_failure: 'remove' },
    remove_flows: 'reset', port: 7070, params: { send: 'PING\\n', expect: '/^PONG/' },
  });
  assert.deepEqual(s.reals[0]!.check, { type: 'udp', options: { ...CHECK_DEFAULTS }, remove_flows: 'drop', address: '10.77.0.50', params: { send: 'x', expect: '*' } });
  assert.equal(s.reals[1]!.check, null);
});

test('http, https and exec checks keep their options for the probe (camelCase where it differs)', () => {
  const http = svc(conf('    check: { type: https, path: /health, host: www.example.com, status: [200, "300-399"], body: "/ok/", digest: "sha256:' + 'a'.repeat(64) + '", verify: false, max_body_bytes: 4096 }', ...REALS));
  assert.deepEqual(http.check!.params, { path: '/health', host: 'www.example.com', status: [200, '300-399'], body: '/ok/', digest: 'sha256:' + 'a'.repeat(64), verify: false, maxBodyBytes: 4096 });
  const exec = svc(conf('    check: { type: exec, command: [/bin/true, --quick], env: { MODE: fast }, dynamic: false }', ...REALS));
  assert.deepEqual(exec.check!.params, { command: ['/bin/true', '--quick'], env: { MODE: 'fast' }, dynamic: false });
});

test('address: vip checks the VIP on dr and tun reals (plain tcp; without SYN checks dr and IPv4 only); anything else is refused at the field', () => {
  const s = svc(conf('    check: { type: tcp, address: vip, port: 7070 }', '    reals: [{ address: 10.77.0.11, method: dr }]'));
  assert.equal(s.check!.vip, true);
  const tun = ['local_addresses: { v4: 10.77.0.2 }', ...conf('    check: { type: tcp, address: vip, port: 7070 }', '    reals: [{ address: 10.77.0.11, method: tun }]').split('\n')].join('\n');
  assert.equal(svc(tun).check!.vip, true, 'tun reals, with SYN checks (the default)');
  rejects(['health: { syn_checks: false }', ...tun.split('\n')].join('\n'), 'services[0].check.address', 'dr reals of IPv4 services only', 'syn_checks false', 'is tun');
  assert.equal(s.check!.address, undefined);
  rejects(conf('    check: { type: tcp, address: vip }', ...REALS), 'services[0].check.address', 'dr and tun reals', 'is nat');
  rejects(conf("    check: { type: tcp, address: vip, send: 'x' }", '    reals: [{ address: 10.77.0.11, method: dr }]'), 'services[0].check.address', 'plain tcp');
  rejects(conf('    check: { type: http, address: vip }', '    reals: [{ address: 10.77.0.11, method: dr }]'), 'services[0].check.address', 'plain tcp');
});

test('sorry server and quorum', () => {
  const s = svc(conf('    check: { type: tcp }', '    quorum: 2', '    sorry_server: { address: 10.77.0.99 }', ...REALS));
  assert.equal(s.quorum, 2);
  assert.deepEqual(s.sorry_server, { address: '10.77.0.99', port: 80, weight: 1, method: 'nat', upper_threshold: 0, lower_threshold: 0 });
  const global = parseConfig(['health: { max_probes: 100, max_exec: 2, syn_checks: false }', ...conf(...REALS).split('\n')].join('\n'), 't.yaml');
  assert.deepEqual(global.health, { maxProbes: 100, maxExec: 2, synChecks: false });
});

test('mistakes name the field and value and say why', () => {
  rejects(conf('    check: { interval_ms: 100 }', ...REALS), 'services[0].check.type', 'required');
  rejects(conf('    check: { type: icmp }', ...REALS), 'services[0].check.type', 'tcp, udp, http, https, exec');
  rejects(conf('    check: { type: tcp, path: / }', ...REALS), 'services[0].check.path', 'not an option of type tcp', 'http, https');
  rejects(conf('    check: { type: tcp, rise: 0 }', ...REALS), 'services[0].check.rise');
  rejects(conf('    check: { type: tcp, interval_ms: 100, timeout_ms: 200 }', ...REALS), 'services[0].check.timeout_ms', 'interval_ms');
  rejects(conf('    check: { type: tcp, jitter: 2 }', ...REALS), 'services[0].check.jitter');
  rejects(conf('    check: { type: tcp, remove_flows: reset }', ...REALS), 'services[0].check.remove_flows', 'on_failure: remove');
  rejects(conf("    check: { type: tcp, send: 'a\\q' }", ...REALS), 'services[0].check.send');
  rejects(conf('    check: { type: udp, no_reply: true, expect: x }', ...REALS), 'services[0].check.no_reply');
  rejects(conf('    check: { type: udp, no_reply: true, timeout_ms: 50, interval_ms: 50 }', ...REALS), 'services[0].check.timeout_ms', 'at least 100');
  rejects(conf('    check: { type: http, status: [200, 700] }', ...REALS), 'services[0].check.status[1]');
  rejects(conf('    check: { type: exec, command: [relative/path] }', ...REALS), 'services[0].check.command[0]');
  rejects(conf('    check: { type: tcp, address: "fd00::1" }', ...REALS), 'services[0].check.address', 'IPv4');
  rejects(conf('    check: none', ...REALS), 'services[0].check', 'mapping');
  rejects(conf('    port: 0', ...REALS).replace('    port: 80\n    port: 0', '    port: all') + '    check: { type: tcp }\n', 'services[0].check.port', 'keeps the client');
  rejects(conf('    sorry_server: { address: 10.77.0.11 }', ...REALS), 'services[0].sorry_server', 'reals[0]');
  rejects(conf('    sorry_server: { address: 10.77.0.99, check: none }', ...REALS), 'services[0].sorry_server.check');
  rejects(conf('    quorum: 0', ...REALS), 'services[0].quorum');
  rejects(['health: { max_exec: 0 }', ...conf(...REALS).split('\n')].join('\n'), 'health.max_exec');
  rejects(['health: { syn_checks: 1 }', ...conf(...REALS).split('\n')].join('\n'), 'health.syn_checks');
});
