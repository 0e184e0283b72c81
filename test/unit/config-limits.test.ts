// SPDX-License-Identifier: Apache-2.0
// What a config costs to read is bounded by what it holds (issue 13): aliases are looked up once
// (yaml's own lookup walked the whole document per alias), a huge value is refused before it is
// decoded and quoted only in part, and reading stops at the data plane's capacity.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { ConfigError, QUOTE_MAX_CHARS } from '../../src/errors.js';
import { parseConfig } from '../../src/config/index.js';
import { MAX_VALUE_CHARS } from '../../src/config/load.js';
import { XLVS_MAX_REALS, XLVS_MAX_SVCS } from '../../src/gen/abi.js';

const HEAD = ['interfaces:', '  public: pub0', '  private: priv0', 'services:'];
const vip = (i: number): string => `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const realLines = (n: number): string[] => Array.from({ length: n }, (_, j) => `      - { address: 10.0.${j >> 8}.${j & 255}, port: 80 }`);

/** `services` services of `reals` reals each: written out, or one list shared through `*r`. */
function services(count: number, reals: number, shared: boolean): string {
  const lines = [...HEAD];
  for (let i = 0; i < count; i++) {
    lines.push(`  - vip: ${vip(i)}`, '    port: 80');
    if (shared && i > 0) lines.push('    reals: *r');
    else lines.push(shared ? '    reals: &r' : '    reals:', ...realLines(reals));
  }
  return lines.join('\n') + '\n';
}

/** The fastest of up to `runs` parses of `text`, in ms; stops early once one is under `enough`. */
function fastest(text: string, runs: number, enough = 0): number {
  let best = Infinity;
  for (let i = 0; i < runs && best > enough; i++) {
    const t0 = performance.now();
    parseConfig(text, 't.yaml');
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

function refused(text: string): ConfigError {
  try {
    parseConfig(text, 't.yaml');
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail('the config was accepted');
}

test('4,000 services sharing one reals list through an alias read in time linear in what they hold', () => {
  const plain = services(4000, 2, false);
  const aliased = services(4000, 2, true);
  // Same content both ways; the machine is noisy, so the best of a few runs of each is compared.
  const cfg = parseConfig(aliased, 't.yaml');
  assert.deepEqual(cfg, parseConfig(plain, 't.yaml'));
  const base = fastest(plain, 3);
  const shared = fastest(aliased, 3, 3 * base);
  assert.ok(shared <= 3 * base, `aliased ${shared.toFixed(0)} ms against ${base.toFixed(0)} ms written out`);
});

test('aliases inside check options read as the options written out', () => {
  const text = (command: string, env: string): string => [
    ...HEAD, '  - vip: 192.0.2.1', '    port: 80', `    check: { type: exec, command: ${command}, env: ${env} }`, '    reals: [{ address: 10.0.0.1 }]',
    'health: { max_exec: &n 16, max_probes: *n }',
  ].join('\n') + '\n';
  const written = parseConfig(text('[/bin/true, --quick]', '{ MODE: fast, AGAIN: fast }'), 't.yaml');
  const aliased = parseConfig(text('[&b /bin/true, --quick]', '{ MODE: &m fast, AGAIN: *m }'), 't.yaml');
  assert.deepEqual(aliased, written);
  // An error in shared content still points at the anchored original, under the path that used it.
  // (a dr real keeps the port: fine in the service on 8080, wrong in the one on 80 that shares it).
  const e = refused([...HEAD, '  - vip: 192.0.2.1', '    port: 8080', '    reals: &r [{ address: 10.0.0.1, port: 8080, method: dr }]',
    '  - vip: 192.0.2.2', '    port: 80', '    reals: *r'].join('\n'));
  assert.deepEqual([e.line, e.column, e.field, e.value], [7, 43, 'services[1].reals[0].port', 8080]);
});

test('a 50 MB value is refused before it is decoded, and quoted only in part', () => {
  const big = 'a'.repeat(50 * 1024 * 1024);
  for (const [written, column] of [[`"${big}"`, 11], [big, 11]] as const) {
    const e = refused(['interfaces:', `  public: ${written}`, '  private: priv0'].join('\n'));
    assert.deepEqual([e.line, e.column, e.field, e.reason], [2, column, '(yaml)', `a value is at most ${MAX_VALUE_CHARS} characters as written`]);
    assert.ok(e.message.length < QUOTE_MAX_CHARS + 200, `a ${e.message.length}-character message`);
    assert.match(e.message, /… \(5242880[02] bytes\)\)$/);
    assert.ok(JSON.stringify(e.value).length < QUOTE_MAX_CHARS + 50, 'the error keeps the quote, not the value');
  }
});

test('reading stops at the data plane\'s capacity: services, then reals in all', () => {
  let e = refused(services(XLVS_MAX_SVCS + 3616, 0, false));
  assert.equal(e.field, `services[${XLVS_MAX_SVCS}]`);
  assert.match(e.reason, new RegExp(`too many services: the data plane holds at most ${XLVS_MAX_SVCS}`));
  // 16,000 services sharing 256 reals name 4 million reals in a short file.
  e = refused(services(16_000, 256, true));
  const full = XLVS_MAX_REALS / 256;
  assert.deepEqual([e.field, e.value], [`services[${full}]`, (full + 1) * 256]);
  assert.match(e.reason, new RegExp(`too many reals in all services: the data plane holds at most ${XLVS_MAX_REALS}`));
});
