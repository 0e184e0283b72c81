// SPDX-License-Identifier: Apache-2.0
// The reaper's timer (src/dataplane/reaper.ts): a BPF_PROG_TEST_RUN that fails is logged with
// its code and the reaper keeps running, rather than an uncaught exception ending xlvsd.
// The run itself is real: the kernel refuses the test run of an fd that is not a BPF program.
// Reaping real flows is covered by test/integration/flows.test.ts and conns.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import pino from 'pino';
import { Reaper } from '../../src/dataplane/reaper.js';
import { BpfError } from '../../src/errors.js';

const INTERVAL_MS = 20;
const WANT_RUNS = 3;
const DEADLINE_MS = 3000;

test('run() on something that is not a BPF program throws a BpfError', () => {
  const fd = openSync('/dev/null', 'r');
  try {
    const reaper = new Reaper(fd, INTERVAL_MS, pino({ level: 'silent' }));
    assert.throws(() => reaper.run(), (e: unknown) => e instanceof BpfError && e.code === 'E_BPF' && e.errno > 0);
  } finally {
    closeSync(fd);
  }
});

test('a failing reap run from the timer is logged with its code and the reaper keeps going', async () => {
  const fd = openSync('/dev/null', 'r');
  const lines: string[] = [];
  const reaper = new Reaper(fd, INTERVAL_MS, pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }));
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown): void => void uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  try {
    reaper.start();
    const t0 = Date.now();
    // Bounded: WANT_RUNS failed runs, or the deadline.
    while (lines.length < WANT_RUNS && uncaught.length === 0 && Date.now() - t0 < DEADLINE_MS) {
      await new Promise((r) => setTimeout(r, INTERVAL_MS));
    }
  } finally {
    reaper.stop();
    process.off('uncaughtException', onUncaught);
    closeSync(fd);
  }
  assert.deepEqual(uncaught, [], 'no exception escapes the timer');
  assert.ok(lines.length >= WANT_RUNS, `${lines.length} failed runs logged within ${DEADLINE_MS} ms, want ${WANT_RUNS}`);
  for (const line of lines) {
    const rec = JSON.parse(line) as Record<string, unknown>;
    assert.equal(rec.level, 50);
    assert.equal(rec.code, 'E_BPF');
    assert.equal(typeof rec.errno, 'number');
    assert.equal(rec.retryMs, INTERVAL_MS);
    assert.match(rec.msg as string, /reaping flows failed/);
  }
  // stop() really stops: no further run after it.
  const logged = lines.length;
  await new Promise((r) => setTimeout(r, INTERVAL_MS * 3));
  assert.equal(lines.length, logged);
});
