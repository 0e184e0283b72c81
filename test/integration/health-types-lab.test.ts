// SPDX-License-Identifier: Apache-2.0
// Every health-check type against real targets in the namespace lab (issue 5): a real xlvsd checks
// check-target processes (lab/check-target.ts) whose answers the test flips through their mode
// files, or kills; exec runs a real script. Each flip must give exactly one WatchHealth
// transition, none spurious. Also: a check that hangs delays neither the other checks nor gRPC.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { CheckTarget, type CheckTargetMode } from '../../lab/check-target.js';
import type { HealthEvent, TargetStatus } from '../../src/health/report.js';
import { UNREACHABLE_WINDOW_MS } from '../../src/health/probes/udp.js';

const VIP = '203.0.113.100';
const RS1 = '10.77.0.11';
const INTERVAL = 200;
const FAST = `interval_ms: ${INTERVAL}, timeout_ms: 150, rise: 2, fall: 2, jitter: 0`;
/** After a flip's transition, how long no further event may come: several probes' worth. */
const SETTLE_MS = 3 * INTERVAL;
const OK_V1 = { status: 200, body: 'ok v1' };
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** One service per check type, each with rs1 as its only real, on the check target's port. */
const PORTS = { tcp: 7001, status: 7002, body: 7003, digest: 7004, exec: 7005, udp: 7006, noReply: 7007, hang: 7008 } as const;
type Name = keyof typeof PORTS;
const SERVICE: Record<Name, string> = Object.fromEntries(
  Object.entries(PORTS).map(([k, p]) => [k, `${k === 'udp' || k === 'noReply' ? 'udp' : 'tcp'}/${VIP}:${p}`]),
) as Record<Name, string>;
const EXEC_WEIGHT = 3;

let lab: Lab;
let xlvsd: XlvsdProcess;
let events: HealthEvent[] = [];
let cancelWatch: (() => void) | undefined;
const watchErrors: string[] = [];
let dir: string;
const targets = {} as Record<Exclude<Name, 'exec'>, CheckTarget>;

function config(script: string, execMode: string): string {
  const svc = (name: Name, check: string, extra = ''): string => `  - vip: ${VIP}
    port: ${PORTS[name]}
    protocol: ${SERVICE[name].slice(0, 3)}
    check: { ${check} }
    reals: [{ address: ${RS1}${extra} }]`;
  return `interfaces: { public: pub0, private: priv0 }
services:
${svc('tcp', `type: tcp, send: "PING\\n", expect: PONG, ${FAST}`)}
${svc('status', `type: http, ${FAST}`)}
${svc('body', `type: http, body: "/^ok v[0-9]+$/", ${FAST}`)}
${svc('digest', `type: http, digest: "sha256:${sha256('ok v1')}", ${FAST}`)}
${svc('exec', `type: exec, command: [${script}, ${execMode}], interval_ms: 250, timeout_ms: 200, rise: 2, fall: 2, jitter: 0`, `, weight: ${EXEC_WEIGHT}`)}
${svc('udp', `type: udp, send: PING, expect: PONG, ${FAST}`)}
${svc('noReply', `type: udp, send: PING, no_reply: true, ${FAST}`)}
${svc('hang', 'type: tcp, send: "PING\\n", expect: PONG, interval_ms: 1000, timeout_ms: 1000, rise: 2, fall: 2, jitter: 0')}
`;
}

const execModeFile = (): string => join(dir, 'exec-code');
function setExitCode(code: number): void {
  writeFileSync(`${execModeFile()}.tmp`, `${code}\n`);
  renameSync(`${execModeFile()}.tmp`, execModeFile());
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'xlvs-health-types-'));
  const script = join(dir, 'check.sh');
  // exec appends the real's address and port; $1 is the mode file.
  writeFileSync(script, '#!/bin/sh\nread code < "$1"\nexit "$code"\n');
  chmodSync(script, 0o755);
  setExitCode(0);
  lab = await Lab.create({ reals: 1 });
  const ns = lab.ns.reals[0]!;
  const start = (name: Exclude<Name, 'exec'>, port: { tcp?: number; http?: number; udp?: number }, mode: CheckTargetMode) =>
    CheckTarget.start(lab, ns, { ...port, mode }).then((t) => void (targets[name] = t));
  await Promise.all([
    start('tcp', { tcp: PORTS.tcp }, { tcp: 'PONG' }),
    start('status', { http: PORTS.status }, { http: OK_V1 }),
    start('body', { http: PORTS.body }, { http: OK_V1 }),
    start('digest', { http: PORTS.digest }, { http: OK_V1 }),
    start('udp', { udp: PORTS.udp }, { udp: 'PONG' }),
    start('noReply', { udp: PORTS.noReply }, { udp: 'silent' }),
    start('hang', { tcp: PORTS.hang }, { tcp: 'hang' }),
  ]);
  xlvsd = await XlvsdProcess.start(lab, { config: config(script, execModeFile()), readyTimeoutMs: 60_000 });
  cancelWatch = xlvsd.api.watchHealth((e) => events.push(e), (err) => watchErrors.push(err.message));
});

after(async () => {
  cancelWatch?.();
  for (const t of Object.values(targets)) await t.destroy().catch((e: unknown) => console.error('check target teardown failed', e));
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const of = (name: Name): HealthEvent[] => events.filter((e) => e.service === SERVICE[name]);
const summary = (e: HealthEvent): string => `${e.from}->${e.to}${e.weight === undefined ? '' : ` w${e.weight}`}`;

async function check(name: Name): Promise<TargetStatus> {
  const c = (await xlvsd.api.listHealth()).checks.find((x) => x.service === SERVICE[name]);
  assert.ok(c, `check of ${SERVICE[name]} listed`);
  return c;
}

/** Waits (bounded) for the n-th event of `name`, then for SETTLE_MS of silence; returns it. */
async function nth(name: Name, n: number, timeoutMs = 3000): Promise<HealthEvent> {
  const deadline = Date.now() + timeoutMs;
  while (of(name).length < n) {
    if (Date.now() > deadline) assert.fail(`${name}: event ${n} not within ${timeoutMs} ms; got ${of(name).map(summary).join(', ') || 'none'}`);
    await sleep(10);
  }
  await sleep(SETTLE_MS);
  assert.equal(of(name).length, n, `${name}: one transition per flip, got ${of(name).map(summary).join(', ')}`);
  return of(name)[n - 1]!;
}

/** The effective weight of rs1 in a service, from ListServices. */
async function effective(name: Name): Promise<{ weight: number; effective: number; health: string }> {
  const s = (await xlvsd.api.listServices()).find((x) => x.port === PORTS[name]);
  const r = s?.reals.find((x) => x.address === RS1);
  assert.ok(r, `rs1 listed in ${SERVICE[name]}`);
  return { weight: r.weight, effective: r.effective_weight, health: r.health };
}

test('every checked target comes up after rise; the hanging one stays down', async () => {
  // Probes start before the API answers, so the first rise may come before the watch did: the
  // counters tell how many transitions each check made.
  const up: Name[] = ['tcp', 'status', 'body', 'digest', 'exec', 'udp']; // noReply: see its own test
  const deadline = Date.now() + 5000;
  let list: TargetStatus[] = [];
  for (;;) {
    list = (await xlvsd.api.listHealth()).checks;
    if (up.every((n) => list.find((c) => c.service === SERVICE[n])?.status === 'up')) break;
    if (Date.now() > deadline) assert.fail(`not all up within 5 s: ${JSON.stringify(list.map((c) => [c.service, c.status, c.last?.reason]))}`);
    await sleep(50);
  }
  await sleep(SETTLE_MS);
  for (const n of up) {
    const c = await check(n);
    assert.deepEqual([c.status, c.counters.went_up, c.counters.went_down], ['up', 1, 0], `${n}: ${c.last?.reason}`);
  }
  const hang = await check('hang');
  assert.deepEqual([hang.status, hang.counters.went_up, hang.counters.probes_ok], ['down', 0, 0]);
  // From here on every transition is counted from the watch.
  events = [];
});

test('a hanging check delays neither the other checks nor gRPC', async () => {
  const watched: Name[] = ['tcp', 'status', 'udp'];
  const ok = async () => Object.fromEntries(await Promise.all(watched.map(async (n) => [n, (await check(n)).counters.probes_ok] as const)));
  const hangBefore = (await check('hang')).counters.probes_failed;
  const hangTimedOutBefore = (await check('hang')).counters.probes_timed_out;
  const t0 = performance.now();
  const before = await ok();
  await sleep(3000);
  const after = await ok();
  const elapsed = performance.now() - t0;
  const expected = elapsed / INTERVAL;
  const rates = watched.map((n) => after[n]! - before[n]!);
  console.log(`hang: over ${Math.round(elapsed)} ms the interval-${INTERVAL} checks passed ${rates.join('/')} probes (expected ${expected.toFixed(1)} ± 2)`);
  for (const [k, n] of watched.entries()) assert.ok(Math.abs(rates[k]! - expected) <= 2, `${n}: ${rates[k]} probes in ${Math.round(elapsed)} ms`);
  const hang = await check('hang');
  assert.equal(hang.status, 'down');
  assert.match(hang.last?.reason ?? '', /^timeout after 1000 ms/);
  // At least one failure counted in 3 s. With timeout_ms = interval_ms the tick that is due as the
  // hung probe's deadline fires sees it still running and skips, so it counts every other
  // interval (1-2 here, not 3); reported with the no_reply bug, same equal-timer cause.
  const hangFailed = hang.counters.probes_failed - hangBefore;
  console.log(`hang: the hanging check counted ${hangFailed} failures in the same time`);
  assert.ok(hangFailed >= 1, `the hanging check kept probing (${hangFailed})`);
  assert.equal(hang.counters.probes_timed_out - hangTimedOutBefore, hangFailed, 'each of its failures counted as a timeout');

  const ms: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    await xlvsd.api.listHealth();
    ms.push(performance.now() - t);
  }
  console.log(`hang: 20 ListHealth calls, max ${Math.max(...ms).toFixed(1)} ms, median ${ms.sort((a, b) => a - b)[10]!.toFixed(1)} ms`);
  assert.ok(Math.max(...ms) < 250, `ListHealth took up to ${Math.max(...ms).toFixed(1)} ms`);
});

test('each check type flips exactly as configured, one transition per flip', { concurrency: true }, async (t) => {
  await Promise.all([
    t.test('tcp send/expect: PONG up, NOPE down, PONG up', async () => {
      targets.tcp.setMode({ tcp: 'NOPE' });
      // The probe's own reason quotes the wrong reply (the scheduler's backstop comes later).
      assert.match((await nth('tcp', 1)).reason, /^timeout after 150 ms waiting for a reply: .*NOPE/);
      assert.match((await check('tcp')).last?.reason ?? '', /^timeout after 150 ms waiting for a reply: .*NOPE/);
      targets.tcp.setMode({ tcp: 'PONG' });
      assert.equal((await nth('tcp', 2)).reason, 'reply matched PONG');
      assert.deepEqual(of('tcp').map(summary), ['up->down', 'down->up']);
    }),
    t.test('http status: 200 up, 503 down, 200 up', async () => {
      targets.status.setMode({ http: { status: 503, body: 'ok v1' } });
      assert.equal((await nth('status', 1)).reason, 'status 503 not in 200-299');
      targets.status.setMode({ http: OK_V1 });
      await nth('status', 2);
      assert.deepEqual(of('status').map(summary), ['up->down', 'down->up']);
    }),
    t.test('http body regex: a body that does not match is down', async () => {
      targets.body.setMode({ http: { status: 200, body: 'maintenance' } });
      assert.match((await nth('body', 1)).reason, /^body did not match .*maintenance/);
      targets.body.setMode({ http: { status: 200, body: 'ok v2' } });
      await nth('body', 2);
      assert.deepEqual(of('body').map(summary), ['up->down', 'down->up']);
    }),
    t.test('http digest: "ok v2" against the sha256 of "ok v1" is down, naming the digests', async () => {
      targets.digest.setMode({ http: { status: 200, body: 'ok v2' } });
      assert.equal((await nth('digest', 1)).reason, `body sha256 ${sha256('ok v2')} != ${sha256('ok v1')}`);
      targets.digest.setMode({ http: OK_V1 });
      await nth('digest', 2);
      assert.deepEqual(of('digest').map(summary), ['up->down', 'down->up']);
    }),
    t.test('exec: exit 0 up, 1 down, 7 up at weight 5, 0 back to the configured weight', async () => {
      assert.deepEqual(await effective('exec'), { weight: EXEC_WEIGHT, effective: EXEC_WEIGHT, health: 'up' });
      setExitCode(1);
      assert.equal((await nth('exec', 1)).reason, 'exit 1');
      assert.deepEqual(await effective('exec'), { weight: EXEC_WEIGHT, effective: 0, health: 'down' });
      setExitCode(7);
      const up = await nth('exec', 2);
      assert.deepEqual([up.weight, up.reason], [5, 'exit 7: weight 5']);
      assert.deepEqual(await effective('exec'), { weight: EXEC_WEIGHT, effective: 5, health: 'up' });
      setExitCode(0);
      await nth('exec', 3);
      assert.deepEqual(await effective('exec'), { weight: EXEC_WEIGHT, effective: EXEC_WEIGHT, health: 'up' });
      assert.deepEqual(of('exec').map(summary), ['up->down', 'down->up w5', 'up->up']);
    }),
    t.test('udp: reply matched up, stopped port (ICMP unreachable) down, restarted up', async () => {
      await targets.udp.stop();
      assert.equal((await nth('udp', 1)).reason, 'port unreachable (ECONNREFUSED)');
      await targets.udp.restart();
      assert.equal((await nth('udp', 2)).reason, 'reply matched PONG');
      assert.deepEqual(of('udp').map(summary), ['up->down', 'down->up']);
    }),
    t.test('udp no_reply: a silent server is up, a stopped port is down', async () => {
      const deadline = Date.now() + 4000;
      while ((await check('noReply')).status !== 'up') {
        if (Date.now() > deadline) assert.fail(`no_reply check never up: ${(await check('noReply')).last?.reason}`);
        await sleep(50);
      }
      assert.equal((await check('noReply')).last?.reason, 'no reply and no port unreachable within 150 ms');
      const base = of('noReply').length;
      await targets.noReply.stop();
      assert.equal((await nth('noReply', base + 1)).reason, 'port unreachable (ECONNREFUSED)');
      await targets.noReply.restart();
      // Up again only once rs1's port unreachables (its own, and the udp check's if that port is
      // closed too) are UNREACHABLE_WINDOW_MS old: silence before that proves nothing, as rs1
      // rate-limits them (probes/udp.ts). Then rise (2 probes).
      await nth('noReply', base + 2, 3000 + UNREACHABLE_WINDOW_MS);
      assert.deepEqual(of('noReply').slice(base).map(summary), ['up->down', 'down->up']);
    }),
  ]);
  assert.equal(of('hang').length, 0, 'the hanging check never changed');
  assert.deepEqual(watchErrors, [], 'the watch stream never broke');
  // The daemon's own counters agree: one rise at start, then one transition per flip.
  const flips: Record<Exclude<Name, 'hang' | 'noReply'>, [number, number]> = { tcp: [2, 1], status: [2, 1], body: [2, 1], digest: [2, 1], exec: [2, 1], udp: [2, 1] };
  for (const [n, want] of Object.entries(flips)) {
    const c = await check(n as Name);
    assert.deepEqual([c.counters.went_up, c.counters.went_down], want, n);
  }
});

test('udp no_reply: a port closed for 3 s stays down, though rs1 soon sends only one port unreachable a second', async () => {
  const base = of('noReply').length;
  await targets.noReply.stop();
  assert.equal((await nth('noReply', base + 1)).reason, 'port unreachable (ECONNREFUSED)');
  // 15 probes at 200 ms: rs1's burst of six unreachables is spent within the first few, the rest
  // of the time it sends one a second. Taking the silences between for health flapped up.
  await sleep(3000);
  const c = await check('noReply');
  assert.equal(c.status, 'down', `still down: ${c.last?.reason}`);
  assert.deepEqual(of('noReply').slice(base).map(summary), ['up->down'], 'no transition while the port was closed');
  await targets.noReply.restart();
  await nth('noReply', base + 2, 3000 + UNREACHABLE_WINDOW_MS);
  assert.deepEqual(of('noReply').slice(base).map(summary), ['up->down', 'down->up']);
});
