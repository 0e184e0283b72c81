// SPDX-License-Identifier: Apache-2.0
// The `source_validation:` section of the config: defaults, the prefixes as the model keeps them,
// and the exact position, field, value and reason of each error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expectConfigError as expectError, IFACES, y } from './config-text.js';
import { parseConfig } from '../../src/config/index.js';
import { XLVS_MAX_SRCVAL_PREFIXES } from '../../src/gen/abi.js';


const sv = (...lines: string[]) => parseConfig(y(...IFACES, ...lines), 't.yaml').desired.source_validation;

test('absent, or empty: strict with no prefixes', () => {
  assert.deepEqual(sv(), { mode: 'strict', allow: [], deny: [] });
  assert.deepEqual(sv('source_validation:'), { mode: 'strict', allow: [], deny: [] });
  assert.deepEqual(sv('source_validation:', '  allow:', '  deny:'), { mode: 'strict', allow: [], deny: [] });
});

test('modes, and prefixes kept canonical (an address alone is a host prefix)', () => {
  assert.equal(sv('source_validation: { mode: off }').mode, 'off');
  assert.equal(sv('source_validation: { mode: loose }').mode, 'loose');
  assert.deepEqual(sv('source_validation:', '  mode: strict', '  allow: [10.77.0.50, "2001:DB8:77:0::/64"]', '  deny: [198.18.0.0/15, 0.0.0.0/0]'), {
    mode: 'strict',
    allow: [{ address: '10.77.0.50', prefix: 32 }, { address: '2001:db8:77::', prefix: 64 }],
    deny: [{ address: '198.18.0.0', prefix: 15 }, { address: '0.0.0.0', prefix: 0 }],
  });
});

test('bad values: the field, the value and why, at file:line:column', () => {
  const at = (line: number, column: number, field: string, value: unknown, reason: string) => ({ line, column, field, value, reason });
  expectError(y(...IFACES, 'source_validation: strict'), at(4, 20, 'source_validation', 'strict', 'must be a mapping'));
  expectError(y(...IFACES, 'source_validation:', '  mode: rpf'), at(5, 9, 'source_validation.mode', 'rpf', 'must be one of strict, loose, off'));
  expectError(y(...IFACES, 'source_validation:', '  mode: false'), at(5, 9, 'source_validation.mode', false, 'must be one of strict, loose, off'));
  expectError(y(...IFACES, 'source_validation:', '  strict: true'), at(5, 3, 'source_validation.strict', 'strict', 'unknown field'));
  expectError(y(...IFACES, 'source_validation:', '  allow: 10.0.0.0/8'), at(5, 10, 'source_validation.allow', '10.0.0.0/8', 'must be a list'));
  const PREFIX = 'must be an IPv4 or IPv6 prefix (address/length, e.g. 10.0.0.0/8) or an address';
  expectError(y(...IFACES, 'source_validation:', '  deny:', '    - 10.0.0.0/8', '    - 10.0.0/8'), at(7, 7, 'source_validation.deny[1]', '10.0.0/8', PREFIX));
  expectError(y(...IFACES, 'source_validation:', '  deny: [example.com]'), at(5, 10, 'source_validation.deny[0]', 'example.com', PREFIX));
  expectError(y(...IFACES, 'source_validation:', '  deny: [10.0.0.0/8/8]'), at(5, 10, 'source_validation.deny[0]', '10.0.0.0/8/8', PREFIX));
  expectError(y(...IFACES, 'source_validation:', '  deny: [24]'), at(5, 10, 'source_validation.deny[0]', 24, PREFIX));
  expectError(y(...IFACES, 'source_validation:', '  deny: [10.0.0.0/33]'), at(5, 10, 'source_validation.deny[0]', '10.0.0.0/33', 'prefix length must be 0..32 for IPv4'));
  expectError(y(...IFACES, 'source_validation:', '  deny: ["2001:db8::/129"]'), at(5, 10, 'source_validation.deny[0]', '2001:db8::/129', 'prefix length must be 0..128 for IPv6'));
  expectError(y(...IFACES, 'source_validation:', '  deny: [10.0.0.0/08]'), at(5, 10, 'source_validation.deny[0]', '10.0.0.0/08', 'prefix length must be a decimal 0..32'));
  expectError(y(...IFACES, 'source_validation:', '  allow: [10.77.0.1/24]'), at(5, 11, 'source_validation.allow[0]', '10.77.0.1/24', 'has host bits set: the prefix is 10.77.0.0/24'));
  expectError(y(...IFACES, 'source_validation:', '  allow: ["::ffff:10.0.0.0/104"]'), at(5, 11, 'source_validation.allow[0]', '::ffff:10.0.0.0/104', 'is an IPv4-mapped IPv6 address: write the IPv4 address'));
  expectError(y(...IFACES, 'source_validation:', '  allow: [10.0.0.0/8]', '  deny: [10.0.0.0/8]'), at(6, 10, 'source_validation.deny[0]', '10.0.0.0/8', 'the same prefix as source_validation.allow[0]'));
  expectError(y(...IFACES, 'source_validation:', '  deny: [10.0.0.1, 10.0.0.1/32]'), at(5, 20, 'source_validation.deny[1]', '10.0.0.1/32', 'the same prefix as source_validation.deny[0]'));
  expectError(y(...IFACES, 'source_validation:', '  mode: off', '  deny: [10.0.0.0/8]'), at(5, 9, 'source_validation.mode', 'off', 'allow and deny have no effect with mode off: remove them, or use strict or loose'));
  const many = Array.from({ length: XLVS_MAX_SRCVAL_PREFIXES + 1 }, (_, i) => `    - 10.${i >> 8}.${i & 255}.0/24`);
  expectError(y(...IFACES, 'source_validation:', '  deny:', ...many), at(6 + XLVS_MAX_SRCVAL_PREFIXES, 7, `source_validation.deny[${XLVS_MAX_SRCVAL_PREFIXES}]`, XLVS_MAX_SRCVAL_PREFIXES + 1, 'too many prefixes: allow and deny hold at most 4096 together'));
});
