// SPDX-License-Identifier: Apache-2.0
// The exec probe's pure parts (src/health/probes/exec.ts, exec-limit.ts): planExec's defaults and
// every rejection (field and value named), the exit-code verdict, the bounded output head, and
// the limiter's bookkeeping. Files planExec inspects live in a temp dir removed after the tests.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../src/errors.js';
import { EXEC_OUTPUT_BYTES, MAX_EXEC_ARGS, OutputHead, exitVerdict, planExec } from '../../src/health/probes/exec.js';
import { ExecLimiter, MAX_EXEC_CONCURRENCY } from '../../src/health/probes/exec-limit.js';

let dir = '';
let script = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'xlvs-exec-unit-'));
  script = join(dir, 'check.sh');
  writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  writeFileSync(join(dir, 'plain.txt'), 'not a program\n', { mode: 0o644 });
  mkdirSync(join(dir, 'subdir'), { mode: 0o755 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

function rejects(input: unknown, field: string, value: unknown, path?: string): void {
  assert.throws(
    () => planExec(input, path),
    (e: unknown) => e instanceof InvalidArgumentError && e.code === 'E_INVALID_ARGUMENT' && e.field === field &&
      e.message.includes(JSON.stringify(value)),
    `${JSON.stringify(input)} must be rejected on ${field} with ${JSON.stringify(value)}`,
  );
}

describe('planExec', () => {
  it('keeps argv, fills dynamic=true and an empty env, and freezes the plan', () => {
    const plan = planExec({ command: [script, '--vhost', ''], timeoutMs: 500 });
    assert.deepEqual(plan, { command: [script, '--vhost', ''], timeoutMs: 500, env: {}, dynamic: true });
    assert.ok(Object.isFrozen(plan) && Object.isFrozen(plan.command) && Object.isFrozen(plan.env));
    const full = planExec({ command: [script], timeoutMs: 60000, env: { _A1: 'x', b: '' }, dynamic: false });
    assert.deepEqual(full, { command: [script], timeoutMs: 60000, env: { _A1: 'x', b: '' }, dynamic: false });
  });

  it('rejects a non-object and unknown options, under the given path', () => {
    rejects(null, 'check', null);
    rejects([script], 'check', [script]);
    rejects('x', 'services[0].check', 'x', 'services[0].check');
    rejects({ command: [script], timeoutMs: 1, shell: true }, 'check.shell', true);
    rejects({ command: [script], timeoutMs: 1, timeout_ms: 5 }, 'services[2].check.timeout_ms', 5, 'services[2].check');
  });

  it('command: a non-empty array of strings, bounded in length', () => {
    rejects({ timeoutMs: 1 }, 'check.command', undefined);
    rejects({ command: [], timeoutMs: 1 }, 'check.command', []);
    rejects({ command: script, timeoutMs: 1 }, 'check.command', script);
    rejects({ command: [script, 7], timeoutMs: 1 }, 'check.command[1]', 7);
    rejects({ command: [script, 'a', null], timeoutMs: 1 }, 'check.command[2]', null);
    rejects({ command: [script, 'a\0b'], timeoutMs: 1 }, 'check.command[1]', 'a\0b');
    const long = [script, ...Array.from({ length: MAX_EXEC_ARGS }, () => 'x')];
    rejects({ command: long, timeoutMs: 1 }, 'check.command', long.length);
  });

  it('command[0]: an absolute path to an existing executable regular file', () => {
    rejects({ command: [''], timeoutMs: 1 }, 'check.command[0]', '');
    rejects({ command: [3], timeoutMs: 1 }, 'check.command[0]', 3);
    rejects({ command: ['check.sh'], timeoutMs: 1 }, 'check.command[0]', 'check.sh');
    rejects({ command: ['sh', '-c', 'exit 0'], timeoutMs: 1 }, 'check.command[0]', 'sh');
    const missing = join(dir, 'missing.sh');
    rejects({ command: [missing], timeoutMs: 1 }, 'check.command[0]', missing);
    assert.throws(() => planExec({ command: [missing], timeoutMs: 1 }), /ENOENT/);
    const plain = join(dir, 'plain.txt');
    rejects({ command: [plain], timeoutMs: 1 }, 'check.command[0]', plain);
    assert.throws(() => planExec({ command: [plain], timeoutMs: 1 }), /must be executable \(access EACCES\)/);
    rejects({ command: [join(dir, 'subdir')], timeoutMs: 1 }, 'check.command[0]', join(dir, 'subdir'));
    rejects({ command: [`${script}\0`], timeoutMs: 1 }, 'check.command[0]', `${script}\0`);
  });

  it('command[0] is checked when planned: a file made executable later passes then', () => {
    const later = join(dir, 'later.sh');
    writeFileSync(later, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    rejects({ command: [later], timeoutMs: 1 }, 'check.command[0]', later);
    chmodSync(later, 0o755);
    assert.equal(planExec({ command: [later], timeoutMs: 1 }).command[0], later);
  });

  it('timeoutMs: an integer from 1 to 60000', () => {
    for (const bad of [undefined, 0, -1, 1.5, 60001, '100', Number.NaN]) {
      rejects({ command: [script], timeoutMs: bad }, 'check.timeoutMs', bad);
    }
    assert.equal(planExec({ command: [script], timeoutMs: 1 }).timeoutMs, 1);
  });

  it('env: names [A-Za-z_][A-Za-z0-9_]*, string values, no xlvs-set names', () => {
    rejects({ command: [script], timeoutMs: 1, env: ['A=1'] }, 'check.env', ['A=1']);
    rejects({ command: [script], timeoutMs: 1, env: 'A=1' }, 'check.env', 'A=1');
    rejects({ command: [script], timeoutMs: 1, env: { '1A': 'x' } }, 'check.env.1A', '1A');
    rejects({ command: [script], timeoutMs: 1, env: { 'A-B': 'x' } }, 'check.env.A-B', 'A-B');
    rejects({ command: [script], timeoutMs: 1, env: { 'A=B': 'x' } }, 'check.env.A=B', 'A=B');
    rejects({ command: [script], timeoutMs: 1, env: { '': 'x' } }, 'check.env.', '');
    rejects({ command: [script], timeoutMs: 1, env: { A: 1 } }, 'check.env.A', 1);
    rejects({ command: [script], timeoutMs: 1, env: { A: 'x\0y' } }, 'check.env.A', 'x\0y');
    rejects({ command: [script], timeoutMs: 1, env: { XLVS_REAL_ADDRESS: '1.2.3.4' } }, 'check.env.XLVS_REAL_ADDRESS', 'XLVS_REAL_ADDRESS');
    rejects({ command: [script], timeoutMs: 1, env: { XLVS_SERVICE: 'web' } }, 'check.env.XLVS_SERVICE', 'XLVS_SERVICE');
    // PATH may be given: the minimal one is only a default
    assert.equal(planExec({ command: [script], timeoutMs: 1, env: { PATH: '/opt/bin' } }).env.PATH, '/opt/bin');
  });

  it('dynamic: a boolean', () => {
    rejects({ command: [script], timeoutMs: 1, dynamic: 'yes' }, 'check.dynamic', 'yes');
    rejects({ command: [script], timeoutMs: 1, dynamic: 1 }, 'check.dynamic', 1);
  });
});

describe('exitVerdict', () => {
  const head = (text: string): OutputHead => {
    const h = new OutputHead();
    h.push(Buffer.from(text));
    return h;
  };
  const none = (): OutputHead => new OutputHead();

  it('0 up, 1 down with the first stderr line (stdout when stderr is empty)', () => {
    assert.deepEqual(exitVerdict(0, null, true, head('noise\n'), none()), { ok: true, reason: 'exit 0' });
    assert.deepEqual(exitVerdict(1, null, true, none(), none()), { ok: false, reason: 'exit 1' });
    assert.deepEqual(exitVerdict(1, null, true, head('\n  db down\r\nmore\n'), head('out')), { ok: false, reason: 'exit 1: db down' });
    assert.deepEqual(exitVerdict(1, null, true, none(), head('CRITICAL - 503\n')), { ok: false, reason: 'exit 1: CRITICAL - 503' });
  });

  it('2..255 with dynamic: up with weight code-2; without: down', () => {
    assert.deepEqual(exitVerdict(7, null, true, none(), none()), { ok: true, weight: 5, reason: 'exit 7: weight 5' });
    assert.deepEqual(exitVerdict(2, null, true, none(), none()), { ok: true, weight: 0, reason: 'exit 2: weight 0' });
    assert.deepEqual(exitVerdict(255, null, true, none(), none()), { ok: true, weight: 253, reason: 'exit 255: weight 253' });
    assert.deepEqual(exitVerdict(7, null, false, head('bad\n'), none()), { ok: false, reason: 'exit 7: bad' });
  });

  it('killed by a signal: down, named', () => {
    assert.deepEqual(exitVerdict(null, 'SIGSEGV', true, none(), none()), { ok: false, reason: 'killed by SIGSEGV' });
  });
});

describe('OutputHead', () => {
  it('keeps the first EXEC_OUTPUT_BYTES, counts everything, drops the rest', () => {
    const h = new OutputHead();
    const chunk = Buffer.alloc(64 * 1024, 'y');
    for (let i = 0; i < 160; i++) h.push(chunk); // 10 MiB
    assert.equal(h.total, 160 * 64 * 1024);
    assert.equal(h.firstLine().length, 201); // 200 characters and the ellipsis
    const small = new OutputHead(8);
    small.push(Buffer.from('abc'));
    small.push(Buffer.from('defghij\nk'));
    assert.equal(small.firstLine(), 'abcdefgh');
    assert.equal(small.total, 12);
    assert.equal(EXEC_OUTPUT_BYTES, 4096);
  });

  it('replaces control characters so a reason stays one clean line', () => {
    const h = new OutputHead();
    h.push(Buffer.from('\x1b[31mred\tcol\x07\n'));
    assert.equal(h.firstLine(), '[31mred col');
  });
});

describe('ExecLimiter', () => {
  const never = (): AbortSignal => new AbortController().signal;

  it('refuses a bad max, naming it', () => {
    for (const bad of [0, -1, 1.5, MAX_EXEC_CONCURRENCY + 1, Number.NaN]) {
      assert.throws(() => new ExecLimiter(bad), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'maxExec');
    }
  });

  it('grants up to max, queues the rest FIFO, hands a released slot to the oldest waiter', async () => {
    const l = new ExecLimiter(2);
    const a = await l.acquire(1000, never());
    const b = await l.acquire(1000, never());
    assert.ok(a.granted && b.granted);
    const order: string[] = [];
    const c = l.acquire(1000, never()).then((s) => { order.push('c'); return s; });
    const d = l.acquire(1000, never()).then((s) => { order.push('d'); return s; });
    assert.deepEqual(l.stats(), { running: 2, waiting: 2, max: 2 });
    a.release();
    a.release(); // idempotent: a second release must not free a second slot
    const sc = await c;
    assert.ok(sc.granted);
    assert.deepEqual(l.stats(), { running: 2, waiting: 1, max: 2 });
    b.release();
    const sd = await d;
    assert.ok(sd.granted);
    assert.deepEqual(order, ['c', 'd']);
    sc.release();
    sd.release();
    assert.deepEqual(l.stats(), { running: 0, waiting: 0, max: 2 });
  });

  it('a waiter times out with the running count, and leaves the queue', async () => {
    const l = new ExecLimiter(1);
    const a = await l.acquire(1000, never());
    const t0 = performance.now();
    const w = await l.acquire(50, never());
    const waited = performance.now() - t0;
    assert.deepEqual(w, { granted: false, why: 'timeout', running: 1 });
    assert.ok(waited >= 45 && waited < 1000, `waited ${waited} ms`);
    assert.deepEqual(l.stats(), { running: 1, waiting: 0, max: 1 });
    assert.ok(a.granted);
    a.release();
    assert.deepEqual(l.stats(), { running: 0, waiting: 0, max: 1 });
  });

  it('an aborted waiter leaves at once; an aborted signal never queues', async () => {
    const l = new ExecLimiter(1);
    const a = await l.acquire(1000, never());
    const ac = new AbortController();
    const w = l.acquire(10_000, ac.signal);
    assert.equal(l.stats().waiting, 1);
    ac.abort();
    assert.deepEqual(await w, { granted: false, why: 'aborted', running: 1 });
    assert.equal(l.stats().waiting, 0);
    assert.deepEqual(await l.acquire(1000, ac.signal), { granted: false, why: 'aborted', running: 1 });
    assert.equal(l.stats().waiting, 0);
    if (a.granted) a.release();
    assert.deepEqual(l.stats(), { running: 0, waiting: 0, max: 1 });
  });
});
