// SPDX-License-Identifier: Apache-2.0
// bench/common/cpu.ts: one /proc/stat reader, its per-CPU busy view (forwarding) and its split by kind
// (connections).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuBetween, cpuSplit, cpuTicks, parseProcStat } from '../../bench/common/cpu.js';
import { InvalidArgumentError } from '../../src/errors.js';

const STAT = `cpu  557786 0 399002 1046702 2270 0 7936 2314 0 0
cpu0 100 1 200 1000 5 3 40 7 0 0
cpu1 10 0 20 2000 0 0 4 900 0 0
intr 1 2 3
ctxt 42
`;

test('parseProcStat reads the aggregate line and the per-CPU lines of one text', () => {
  const s = parseProcStat(STAT);
  assert.deepEqual(s.all, { user: 557786, nice: 0, system: 399002, idle: 1046702, iowait: 2270, irq: 0, softirq: 7936, steal: 2314 });
  assert.equal(s.perCpu.length, 2);
  assert.deepEqual(s.perCpu[1], { user: 10, nice: 0, system: 20, idle: 2000, iowait: 0, irq: 0, softirq: 4, steal: 900 });
});

test('per CPU: busy = user + nice + system + irq + softirq; idle, iowait and steal are not ours', () => {
  assert.deepEqual(parseProcStat(STAT).perCpu.map(cpuTicks), [
    { busy: 100 + 1 + 200 + 3 + 40, total: 100 + 1 + 200 + 1000 + 5 + 3 + 40 + 7 },
    { busy: 10 + 20 + 4, total: 10 + 20 + 2000 + 4 + 900 },
  ]);
});

test('parseProcStat refuses a text without per-CPU lines, without the aggregate line, or with a short line', () => {
  assert.throws(() => parseProcStat('cpu  1 2 3 4 5 6 7 8\nintr 1\n'), (e: unknown) => e instanceof InvalidArgumentError && e.field === '/proc/stat' && /no per-CPU lines/.test(e.message));
  assert.throws(() => parseProcStat('cpu0 1 2 3\n'), (e: unknown) => e instanceof InvalidArgumentError && e.field === '/proc/stat line');
  assert.throws(() => parseProcStat('intr 1 2 3\n'), /no aggregate cpu line/);
});

test('cpuBetween: ticks of 10 ms become ns, per CPU and summed', () => {
  const a = [{ busy: 100, total: 1000 }, { busy: 50, total: 1000 }];
  const b = [{ busy: 150, total: 1100 }, { busy: 51, total: 1100 }];
  assert.deepEqual(cpuBetween(a, b), { busyNs: [500_000_000, 10_000_000], totalBusyNs: 510_000_000 });
  assert.throws(() => cpuBetween(a, [b[0]!]), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'CPU count');
});

test('cpuSplit gives shares of the interval that add up to 100', () => {
  const a = parseProcStat('cpu  100 0 50 1000 0 0 10 0 0 0\ncpu0 50 0 25 500 0 0 5 0 0 0\n').all;
  const b = parseProcStat('cpu  160 0 90 1050 0 0 50 0 0 0\ncpu0 80 0 45 525 0 0 25 0 0 0\n').all;
  const s = cpuSplit(a, b); // deltas: user 60, system 40, idle 50, softirq 40 = 190
  assert.ok(Math.abs(s.userPct - (100 * 60) / 190) < 1e-9);
  assert.ok(Math.abs(s.softirqPct - (100 * 40) / 190) < 1e-9);
  assert.ok(Math.abs(s.userPct + s.systemPct + s.softirqPct + s.idlePct + s.otherPct - 100) < 1e-9);
  assert.throws(() => cpuSplit(a, a), /did not advance/);
});
