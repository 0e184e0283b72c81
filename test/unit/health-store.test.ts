// SPDX-License-Identifier: Apache-2.0
// health.json (src/health/store.ts) through the durable state file: saved states survive a new
// store; a file cut short falls back to health.json.prev with a warning; both damaged are
// reported and ignored (a cache of what probes find again), never a refusal to start.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { HealthStore } from '../../src/health/store.js';

const root = mkdtempSync(join(tmpdir(), 'xlvs-health-store-'));
after(() => rmSync(root, { recursive: true, force: true }));

function logged(): { log: pino.Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  return { lines, log: pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as { level: number; msg: string }) }) };
}

test('health.json cut short falls back to health.json.prev with a warning; both damaged start empty with an error', async () => {
  const dir = join(root, 'a');
  const file = join(dir, 'health.json');
  const a = new HealthStore(dir, logged().log);
  a.set('r1', 'k', 'down');
  await a.flush();
  a.set('r1', 'k', 'up');
  await a.flush();
  assert.equal(new HealthStore(dir, logged().log).get('r1', 'k'), 'up');

  truncateSync(file, 10);
  const warned = logged();
  assert.equal(new HealthStore(dir, warned.log).get('r1', 'k'), 'down', 'the previous version');
  assert.equal(warned.lines.length, 1);
  assert.equal(warned.lines[0]!.level, 40);
  assert.ok(warned.lines[0]!.msg.includes(`using the previous version ${file}.prev`), warned.lines[0]!.msg);

  truncateSync(`${file}.prev`, 0);
  const failed = logged();
  assert.equal(new HealthStore(dir, failed.log).get('r1', 'k'), undefined);
  assert.deepEqual(failed.lines.map((l) => [l.level, l.msg]), [[50, 'saved health states are damaged; checks start from their initial state']]);
});
