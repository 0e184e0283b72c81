// SPDX-License-Identifier: Apache-2.0
// src/state/durable-file.ts: a state file and its previous version. Writes leave the current file
// whole and the one before it as .prev; a damaged current file falls back to .prev with a
// warning; both damaged is an E_STATE error naming both; a missing one is no value.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { DurableFile } from '../../src/state/durable-file.js';
import { StateFileDamagedError, StateFileError, XlvsError } from '../../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'xlvs-durable-'));
let dirs = 0;
after(() => rmSync(root, { recursive: true, force: true }));

/** A pino logger whose warnings' messages land in `warnings`. */
function log(): pino.Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push((JSON.parse(line) as { msg: string }).msg) });
  return Object.assign(logger, { warnings });
}

const parse = (text: string, file: string): number[] => {
  try {
    return JSON.parse(text) as number[];
  } catch (e) {
    throw new StateFileError(file, `: not valid JSON: ${(e as Error).message}`);
  }
};

function fresh(): { file: string; dir: string; l: ReturnType<typeof log>; d: DurableFile<number[]> } {
  const dir = join(root, `d${dirs++}`);
  const file = join(dir, 'state.json');
  const l = log();
  return { file, dir, l, d: new DurableFile(file, parse, l) };
}

test('nothing saved reads as undefined; a write makes the dir and leaves no temp file', () => {
  const { d, dir, file } = fresh();
  assert.equal(d.read(), undefined);
  d.write('[1]');
  assert.deepEqual(readdirSync(dir), ['state.json'], 'the first write has no previous version');
  assert.equal(readFileSync(file, 'utf8'), '[1]');
});

test('each write keeps the version before it as .prev', () => {
  const { d, dir, file } = fresh();
  d.write('[1]');
  d.write('[1,2]');
  d.write('[1,2,3]');
  assert.deepEqual(readdirSync(dir).sort(), ['state.json', 'state.json.prev']);
  assert.equal(readFileSync(file, 'utf8'), '[1,2,3]');
  assert.equal(readFileSync(`${file}.prev`, 'utf8'), '[1,2]');
  assert.deepEqual(d.read(), [1, 2, 3]);
});

test('a current file cut short or empty falls back to .prev with a warning', () => {
  for (const damage of [(f: string) => truncateSync(f, 3), (f: string) => truncateSync(f, 0), (f: string) => writeFileSync(f, '  \n')]) {
    const { d, file, l } = fresh();
    d.write('[1,2]');
    d.write('[1,2,3]');
    damage(file);
    const again = new DurableFile(file, parse, l);
    assert.deepEqual(again.read(), [1, 2]);
    assert.equal(l.warnings.length, 1);
    assert.ok(l.warnings[0]!.startsWith(`${file}: `) && l.warnings[0]!.includes(`using the previous version ${file}.prev`), l.warnings[0]);
  }
});

test('after a fallback, the next write keeps the good .prev rather than the damaged file', () => {
  const { d, file, l } = fresh();
  d.write('[1]');
  d.write('[1,2]');
  truncateSync(file, 2);
  const again = new DurableFile(file, parse, l);
  assert.deepEqual(again.read(), [1]);
  again.write('[1,9]');
  assert.equal(readFileSync(`${file}.prev`, 'utf8'), '[1]');
  again.write('[1,9,9]');
  assert.equal(readFileSync(`${file}.prev`, 'utf8'), '[1,9]', 'then rotation as usual');
});

test('both damaged: StateFileDamagedError (E_STATE), the current file\'s error first, then the previous one\'s', () => {
  const { d, file, l } = fresh();
  d.write('[1]');
  d.write('[1,2]');
  truncateSync(file, 0);
  truncateSync(`${file}.prev`, 2);
  assert.throws(() => new DurableFile(file, parse, l).read(), (e: unknown) => {
    assert.ok(e instanceof StateFileDamagedError && e instanceof XlvsError);
    assert.equal(e.code, 'E_STATE');
    assert.ok(e.message.startsWith(`${file}: empty (cut short by a crash?); its previous version is damaged too: ${file}.prev: not valid JSON`), e.message);
    return true;
  });
});

test('a damaged current file without a .prev is its own error', () => {
  const { file, dir, l } = fresh();
  new DurableFile(file, parse, l).write('[1]');
  writeFileSync(file, '[1');
  assert.deepEqual(readdirSync(dir), ['state.json']);
  assert.throws(() => new DurableFile(file, parse, l).read(), (e: unknown) => e instanceof StateFileError && e.message.startsWith(`${file}: not valid JSON`));
});

test('a current file removed by hand is no value, and the ignored .prev is said', () => {
  const { d, file, l } = fresh();
  d.write('[1]');
  d.write('[2]');
  rmSync(file);
  assert.equal(new DurableFile(file, parse, l).read(), undefined);
  assert.equal(l.warnings.length, 1);
  assert.match(l.warnings[0]!, /is missing; .*state\.json\.prev is not used: remove it too to start clean/);
});
