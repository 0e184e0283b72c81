// SPDX-License-Identifier: Apache-2.0
// The perf report reader of bench/common/profile.ts (both forms: --children two columns, plain one
// column), on lines captured from this machine's perf 6.1.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inclusive, parsePerfChildren, parsePerfReport } from '../../bench/common/profile.js';
import { breakdown } from '../../bench/per-packet/per-packet.js';

const CAPTURED = `
    99.93%     0.00%  [.] node_napi_env__::CallFinalizer
    99.64%     5.15%  [k] bpf_test_run
    80.04%    25.39%  [k] bpf_prog_274f712a65892385_xlvs_public
    33.17%     1.06%  [k] bpf_xdp_fib_lookup
    11.50%     1.29%  [k] __htab_map_lookup_elem
     3.82%     3.07%  [k] bpf_ktime_get_coarse_ns

#
# (Cannot load tips.txt file, please install perf!)
#
`;

test('parsePerfChildren reads inclusive and self shares and the symbol; other lines are ignored', () => {
  const s = parsePerfChildren(CAPTURED);
  assert.equal(s.length, 6);
  assert.deepEqual(s[0], { children: 99.93, self: 0, symbol: 'node_napi_env__::CallFinalizer' });
  assert.deepEqual(inclusive(s, /_xlvs_public$/), { children: 80.04, self: 25.39, symbol: 'bpf_prog_274f712a65892385_xlvs_public' });
  assert.equal(inclusive(s, /^nothing$/), undefined);
});

test('breakdown splits xlvs_public\'s inclusive samples into parts that add up to it, in ns of the established figure', () => {
  const b = breakdown(parsePerfChildren(CAPTURED), 300, 1000);
  assert.equal(b.programShare, 80.04);
  const by = (word: string): { share: number; ns: number } => b.parts.find((p) => p.part.includes(word))!;
  assert.ok(Math.abs(by('fib').share - (100 * 33.17) / 80.04) < 1e-9);
  assert.ok(Math.abs(by('fib').ns - (300 * 33.17) / 80.04) < 1e-9);
  assert.ok(Math.abs(by('own').share - (100 * 25.39) / 80.04) < 1e-9);
  assert.ok(Math.abs(b.parts.reduce((a, p) => a + p.ns, 0) - 300) < 1e-9, 'the parts are the whole figure');
  assert.throws(() => breakdown(parsePerfChildren('  10.00%  10.00%  [k] other\n'), 300, 1000), /no samples in xlvs_public/);
});

test('one reader, two forms: each parser takes only the lines of its own form', () => {
  const plain = '    54.80%  node           \n     0.61%  ksoftirqd/1    \n';
  assert.deepEqual(parsePerfChildren(plain), []);
  assert.deepEqual(parsePerfReport(CAPTURED), []);
  assert.deepEqual(parsePerfChildren(CAPTURED + plain).length, 6);
  assert.deepEqual(parsePerfReport(CAPTURED + plain).map((x) => x.name), ['node', 'ksoftirqd/1']);
});
