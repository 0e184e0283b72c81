// SPDX-License-Identifier: Apache-2.0
// tcp checks as SYNs from the data plane (bpf/probe.h, health/probes/syn.ts), end to end: a
// real xlvsd in the namespace lab checks real servers with `health.syn_checks` on (the default).
// What must hold: a listening port is up without the real's stack ever completing a connection
// (no passive open, nothing left half-open), a closed port is down on its RST at once, the
// answers are counted in the data plane's `probe` event, the same over IPv6, an ICMP error about a
// probe fails it at once, a real whose neighbour cannot be
// resolved is still checked (through a socket), and a check goes up when its port opens.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../../lab/lab.js';
import { addLabV6, labV6Addresses } from '../../lab/lab-v6.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { CheckTarget } from '../../lab/check-target.js';
import { captureStderr, stopChild, waitForLine } from '../../lab/child.js';
import type { ChildProcess } from 'node:child_process';
import type { TargetStatus } from '../../src/health/report.js';
import { BpfMap, PerCpuMap } from '../../src/kernel/map.js';
import { u32, u64 } from '../../src/kernel/codec.js';
import { check, lib } from '../../src/kernel/libbpf.js';
import { libc } from '../../src/kernel/libc.js';
import { XLVS_EV_PROBE, XlvsProbe } from '../../src/gen/abi.js';
import { addressBytes } from '../../src/model/ip.js';

const VIP = '203.0.113.100';
const RS = ['10.77.0.11', '10.77.0.12', '10.77.0.13'];
/** In the private subnet, but no host answers ARP for it. */
const GHOST = '10.77.0.99';
const WEB = 'tcp/203.0.113.100:80';
const SIDE = 'tcp/203.0.113.100:9000';
const CHECK_PORT = 7070;
/**
 * A real behind rs3, whose forward chain rejects it with ICMP host unreachable (nftables, with
 * icmp_ratelimit 0: an `unreachable` route would answer only once a second, ip_error's limit).
 */
const BEYOND = '198.18.0.5';
const BEYOND_SVC = 'tcp/203.0.113.100:9100';
const V6 = labV6Addresses(3);
const V6_PORT = 7443;
const WEB6 = `tcp/[${V6.vip}]:${V6_PORT}`;
/** An IPv6-only listener for rs1 (the lab servers listen on IPv4): prints READY once bound. */
const LISTEN6 = `const s = require('node:net').createServer((c) => c.destroy());
s.listen({ port: ${V6_PORT}, host: '::', ipv6Only: true }, () => console.log('READY'));
process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`;
const INTERVAL = 200;
const TIMING = `interval_ms: ${INTERVAL}, timeout_ms: 150, rise: 1, fall: 1, jitter: 0`;

const CONFIG = `interfaces: { public: pub0, private: priv0 }
services:
  - vip: ${VIP}
    port: 80
    scheduler: rr
    check: { type: tcp, ${TIMING}, initial: down }
    reals: [{ address: ${RS[0]} }, { address: ${RS[1]} }]
  - vip: ${VIP}
    port: 9000
    scheduler: rr
    check: { type: tcp, port: ${CHECK_PORT}, ${TIMING}, initial: up }
    reals: [{ address: ${RS[2]} }, { address: ${GHOST} }]
  - vip: ${VIP}
    port: 9100
    scheduler: rr
    check: { type: tcp, ${TIMING}, initial: up }
    reals: [{ address: ${BEYOND}, port: 80 }]
  - vip: ${V6.vip}
    port: ${V6_PORT}
    scheduler: rr
    check: { type: tcp, ${TIMING}, initial: down }
    reals: [{ address: ${V6.reals[0]} }, { address: ${V6.reals[1]}, check: { type: tcp, port: ${CHECK_PORT}, ${TIMING}, initial: up } }]
`;

let lab: Lab;
let xlvsd: XlvsdProcess;
let target: CheckTarget | undefined;
let listener6: ChildProcess | undefined;

before(async () => {
  lab = await Lab.create();
  await addLabV6(lab);
  await lab.startRealServers();
  const rs3 = lab.ns.reals[2]!;
  for (const argv of [
    ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'],
    ['sysctl', '-q', '-w', 'net.ipv4.icmp_ratelimit=0'],
    ['ip', 'route', 'add', '198.18.0.0/24', 'dev', 'eth0'],
    ['nft', 'add table inet xlvs_test; add chain inet xlvs_test passing { type filter hook forward priority 0; }; add rule inet xlvs_test passing ip daddr 198.18.0.0/24 reject with icmp type host-unreachable'],
  ]) await lab.exec(rs3, argv);
  await lab.exec(lab.ns.router, ['ip', 'route', 'add', '198.18.0.0/24', 'via', RS[2]!, 'dev', 'priv0']);
  listener6 = lab.spawn(lab.ns.reals[0]!, [process.execPath, '-e', LISTEN6]);
  await waitForLine(listener6, 'READY', 10_000, captureStderr(listener6, (line) => console.error('IPv6 listener:', line)));
  xlvsd = await XlvsdProcess.start(lab, { config: CONFIG, readyTimeoutMs: 60_000 });
});

after(async () => {
  await target?.destroy().catch((e: unknown) => console.error('check target teardown failed', e));
  if (listener6) await stopChild(listener6).catch((e: unknown) => console.error('IPv6 listener teardown failed', e));
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

async function status(service: string, real: string): Promise<TargetStatus> {
  const c = (await xlvsd.api.listHealth()).checks.find((x) => x.service === service && x.real === real);
  assert.ok(c, `check of ${real} in ${service} listed`);
  return c;
}

/** Polls until pred holds on the target's status; bounded. */
async function until(service: string, real: string, pred: (s: TargetStatus) => boolean, what: string, timeoutMs = 5000): Promise<TargetStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await status(service, real);
    if (pred(s)) return s;
    if (Date.now() > deadline) throw new Error(`${real} of ${service}: ${what} not reached in ${timeoutMs} ms; last ${JSON.stringify(s)}`);
    await sleep(50);
  }
}

/** Tcp counters of a namespace's stack (/proc/net/snmp). */
async function tcpSnmp(ns: string): Promise<Record<string, number>> {
  const { stdout } = await lab.exec(ns, ['cat', '/proc/net/snmp']);
  const lines = stdout.split('\n').filter((l) => l.startsWith('Tcp:'));
  assert.equal(lines.length, 2, 'Tcp header and values in /proc/net/snmp');
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, values[i]!]));
}

function probeEvents(): bigint {
  const fd = check('open pinned events map', lib.obj_get(join(xlvsd.pinDir, 'maps', 'events')));
  try {
    const m = new PerCpuMap('events', fd, u32, u64, check('num_possible_cpus', lib.num_possible_cpus()));
    return (m.lookup(XLVS_EV_PROBE) ?? []).reduce((s, v) => s + v, 0n);
  } finally {
    libc.close(fd);
  }
}

/** The probe slots (pinned probes map) that last went to address:port. */
function slotsOf(address: string, port: number): XlvsProbe[] {
  const fd = check('open pinned probes map', lib.obj_get(join(xlvsd.pinDir, 'maps', 'probes')));
  try {
    const want = addressBytes(address).toString('hex');
    return [...new BpfMap('probes', fd, u32, XlvsProbe).entries()].map(([, p]) => p).filter((p) => p.dport === port && p.daddr.toString('hex') === want);
  } finally {
    libc.close(fd);
  }
}

test('SYN checks run here: GetCapabilities says so, and every plain tcp check probes by SYN as configured', async () => {
  const caps = await xlvsd.api.getCapabilities();
  assert.deepEqual(caps.synChecks, { configured: true, running: true }, JSON.stringify(caps.list));
  for (const c of (await xlvsd.api.listHealth()).checks) {
    assert.equal(c.method, 'syn', `${c.real} of ${c.service}`);
    assert.equal(c.degraded, undefined);
  }
});

test('a listening real is up on its SYN-ACK; its stack never completes a connection and keeps nothing half-open', async () => {
  // (a round may run as a socket while the router resolves a real's neighbour: then the next)
  for (const rs of [RS[0]!, RS[1]!]) await until(WEB, `${rs}:80`, (x) => x.status === 'up' && x.last?.reason === 'connected (SYN-ACK)', 'up, answered through the data plane');
  const ns = lab.ns.reals[0]!;
  const before = await tcpSnmp(ns);
  const probesBefore = (await status(WEB, `${RS[0]}:80`)).counters.probes_ok;
  const eventsBefore = probeEvents();
  await sleep(2000); // about 10 probes of each target
  const after = await tcpSnmp(ns);
  const s = await status(WEB, `${RS[0]}:80`);
  const probes = s.counters.probes_ok - probesBefore;
  assert.ok(probes >= 7, `rs1 was probed ${probes} times in 2 s at a ${INTERVAL} ms interval`);
  assert.equal(s.counters.probes_failed, 0, 'no probe of a listening real failed');
  assert.equal(s.status, 'up');
  assert.ok(s.last && s.last.ms < 100, `round trip ${s.last?.ms} ms from the data plane's timestamps`);
  // a completed handshake is a passive open; the SYN, SYN-ACK, RST exchange never is one
  assert.equal(after['PassiveOpens']! - before['PassiveOpens']!, 0, 'no connection was established on the real');
  assert.ok(after['AttemptFails']! - before['AttemptFails']! >= probes, `each probe's RST ended a half-open connection (AttemptFails +${after['AttemptFails']! - before['AttemptFails']!})`);
  const { stdout: synRecv } = await lab.exec(ns, ['ss', '-Htan', 'state', 'syn-recv']);
  assert.equal(synRecv.trim(), '', 'no half-open connection left on the real');
  // both of the web service's reals answered, each answer counted once (the 9000 service adds RSTs)
  assert.ok(probeEvents() - eventsBefore >= BigInt(2 * probes), `probe answers counted: ${probeEvents() - eventsBefore}`);
  // The data plane recorded the answers in the probe slots: sent from the router's private
  // address, answered after they were sent (the daemon stamps sent_ns as the frame leaves).
  const slots = slotsOf(RS[0]!, 80).filter((p) => p.answered_ns > 0n);
  assert.ok(slots.length > 0, 'a slot of rs1:80 holds an answer');
  for (const p of slots) {
    assert.ok(p.sent_ns > 0n && p.answered_ns >= p.sent_ns, `answered ${p.answered_ns} after sent ${p.sent_ns}`);
    assert.equal(p.saddr.toString('hex'), addressBytes(lab.addr.routerPrivate).toString('hex'), 'sent from the router\'s private address');
  }
});

test('a closed port is down on its RST, and up once something listens there', async () => {
  const real = `${RS[2]}:9000`;
  const down = await until(SIDE, real, (x) => x.status === 'down', 'down');
  assert.equal(down.last?.reason, 'connect ECONNREFUSED (RST)');
  assert.ok(down.last && down.last.ms < 100, `the RST came in ${down.last?.ms} ms, not at the timeout`);
  target = await CheckTarget.start(lab, lab.ns.reals[2]!, { tcp: CHECK_PORT, mode: { tcp: 'OK' } });
  const up = await until(SIDE, real, (x) => x.status === 'up', 'up after the port opened');
  assert.equal(up.last?.reason, 'connected (SYN-ACK)');
});

test('IPv6: a listening real is up on its SYN-ACK, a closed port is down on its RST', async () => {
  const up = await until(WEB6, `[${V6.reals[0]}]:${V6_PORT}`, (x) => x.status === 'up' && x.last?.reason === 'connected (SYN-ACK)', 'up, answered through the data plane');
  assert.ok(up.last && up.last.ms < 100, `round trip ${up.last?.ms} ms`);
  const down = await until(WEB6, `[${V6.reals[1]}]:${V6_PORT}`, (x) => x.status === 'down' && x.last?.reason === 'connect ECONNREFUSED (RST)', 'down on a RST');
  assert.equal(down.counters.went_down, 1);
});

test('an ICMP error about a probe\'s SYN takes the real down at once, not at the timeout', async () => {
  const s = await until(BEYOND_SVC, `${BEYOND}:80`, (x) => x.status === 'down' && (x.last?.reason ?? '').includes('(ICMP host unreachable)'), 'down on rs3\'s ICMP error');
  assert.equal(s.last?.reason, 'connect EHOSTUNREACH (ICMP host unreachable)');
  assert.ok(s.last && s.last.ms < 100, `failed after ${s.last?.ms} ms, the timeout is 150`);
});

test('a real whose neighbour is unresolved is checked through a socket, and goes down', async () => {
  const s = await until(SIDE, `${GHOST}:9000`, (x) => x.status === 'down', 'down');
  assert.ok(s.last, 'probed');
  assert.doesNotMatch(s.last.reason, /SYN-ACK|\(RST\)|no SYN-ACK/, `not a data-plane answer: ${s.last.reason}`);
});
