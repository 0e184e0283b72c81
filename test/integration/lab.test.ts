// SPDX-License-Identifier: Apache-2.0
// The namespace lab's own plumbing, with no load balancer anywhere: every later integration
// test trusts that these paths work, so a failure here is a lab problem, not an xlvs one.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Lab, LabError, removeStaleLabs } from '../../lab/lab.js';
import { allNamespaces } from '../../lab/topology.js';
import { REGISTRY_DIR } from '../../lab/registry.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const log = pino({ level: process.env.XLVS_LOG_LEVEL ?? 'warn' }, pino.destination(2));
const T = { timeout: 60_000 };

let lab: Lab | undefined;

/** What `ip netns list` shows: the check does not trust the lab's own bookkeeping. */
async function namespaces(): Promise<string[]> {
  const { stdout } = await promisify(execFile)('ip', ['netns', 'list']);
  return stdout.split('\n').map((line) => line.split(' ')[0]).filter((n) => n !== '');
}

function theLab(): Lab {
  assert.ok(lab, 'lab was not created');
  return lab;
}

before(async () => {
  await removeStaleLabs(log);
  lab = await Lab.create({ log });
  await lab.startRealServers();
});

after(async () => {
  // Runs even when a test failed; destroy is idempotent.
  await lab?.destroy();
});

test('client reaches the router public address and the VIP', T, async () => {
  const l = theLab();
  for (const target of [l.addr.routerPublic, l.addr.vip]) {
    const { stdout } = await l.exec(l.ns.client, ['ping', '-c', '2', '-i', '0.2', '-W', '2', target]);
    assert.match(stdout, /2 received/, `ping ${target}`);
  }
});

test('router reaches every real over HTTP, each on a new connection', T, async () => {
  const l = theLab();
  for (const [i, host] of l.addr.reals.entries()) {
    const res = await l.client('http', ['--host', host, '--port', '80', '--count', '3'], { ns: l.ns.router });
    assert.deepEqual(res.counts, { [`rs${i + 1}`]: 3 });
    assert.equal(res.errors, 0);
  }
});

test('router reaches every real over UDP', T, async () => {
  const l = theLab();
  for (const [i, host] of l.addr.reals.entries()) {
    const res = await l.client('udp', ['--host', host, '--port', '5353', '--count', '3'], { ns: l.ns.router });
    assert.deepEqual(res.counts, { [`rs${i + 1}`]: 3 });
    assert.equal(res.errors, 0);
  }
});

test('a 1 MB bulk transfer arrives intact', T, async () => {
  const l = theLab();
  const res = await l.client('bulk', ['--host', l.addr.reals[0], '--port', '9000', '--bytes', '1048576'], { ns: l.ns.router });
  assert.equal(res.bytes, 1048576);
  assert.equal(res.sha256, res.expected_sha256);
  assert.equal(res.ok, true);
  assert.equal(res.peer, l.addr.reals[0]);
});

test('a held connection gets every PING answered by the same real', T, async () => {
  const l = theLab();
  const session = l.hold({ host: l.addr.reals[1], port: 9000, intervalMs: 50, durationMs: 600, ns: l.ns.router });
  const end = await session.result;
  assert.ok('done' in end, JSON.stringify(end));
  assert.ok(end.received >= 5, `only ${end.received} replies`);
  assert.equal(end.received, end.sent);
  assert.ok(session.replies.every((r) => r.reply === 'rs2'));
});

test('a stopped real server stops answering and answers again once restarted', T, async () => {
  const l = theLab();
  const args = ['--host', l.addr.reals[2], '--port', '80', '--count', '2', '--request-timeout-ms', '1000'];
  await l.stopRealServer(2);
  const down = await l.client('http', args, { ns: l.ns.router });
  assert.equal(down.errors, 2);
  await l.startRealServer(2);
  const up = await l.client('http', args, { ns: l.ns.router });
  assert.deepEqual(up.counts, { rs3: 2 });
});

test('a creation that fails half-way removes what it built', T, async () => {
  const prefix = `xlvs-${randomBytes(3).toString('hex')}-`;
  // A file that exists but is no BPF object: every step succeeds up to the XDP attach.
  const notBpf = fileURLToPath(new URL('../../../package.json', import.meta.url));
  await assert.rejects(Lab.create({ prefix, reals: 1, passObject: notBpf, log: pino({ level: 'silent' }) }), (err: unknown) => {
    assert.ok(err instanceof LabError);
    assert.equal(err.code, 'E_LAB');
    assert.match(err.message, /XDP pass/);
    return true;
  });
  assert.deepEqual((await namespaces()).filter((n) => n.startsWith(prefix)), []);
});

test('a lab whose namespaces exist already is refused and leaves the other lab and its record alone', T, async () => {
  const l = theLab();
  const record = join(REGISTRY_DIR, `${l.prefix.slice(0, -1)}.json`);
  assert.ok(existsSync(record), `the running lab's record ${record}`);
  await assert.rejects(Lab.create({ prefix: l.prefix, log: pino({ level: 'silent' }) }), (err: unknown) => {
    assert.ok(err instanceof LabError);
    assert.match(err.message, /^namespaces already exist: /);
    return true;
  });
  // removeStaleLabs trusts the record: without it the live lab would look like debris.
  assert.ok(existsSync(record), 'the running lab keeps its record');
  const names = allNamespaces(l.ns);
  assert.deepEqual((await namespaces()).filter((n) => names.includes(n)).sort(), [...names].sort());
});

test('destroy removes every namespace and can be repeated', T, async () => {
  const l = theLab();
  const names = allNamespaces(l.ns);
  assert.deepEqual((await namespaces()).filter((n) => names.includes(n)).sort(), [...names].sort());
  await l.destroy();
  await l.destroy();
  assert.deepEqual((await namespaces()).filter((n) => n.startsWith(l.prefix)), []);
});
