// SPDX-License-Identifier: Apache-2.0
// Kernel capabilities (src/host/capabilities-probe.ts), asked for real: on this host every one
// SYN checks need is there; without CAP_NET_RAW (a host or systemd unit that bounds it away,
// done here with setpriv) AF_PACKET is refused, and a real xlvsd says so: GetCapabilities and
// the log give the reason, its tcp checks run as connect() and ListHealth marks each, and what
// only SYN checks can do (the VIP on a tun real) is refused naming the reason, never probed
// another way.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { probeCapabilities } from '../../src/host/capabilities-probe.js';
import { CAPABILITY_NAMES, synChecksProblem, type Capabilities } from '../../src/host/capabilities.js';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { METHOD_LAB } from '../../lab/method-reals.js';
import { ApiCallError } from '../../src/api/client.js';
import type { TargetStatus } from '../../src/health/report.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CAPS_OBJECT = `${ROOT}build/xlvs_caps.bpf.o`;
/** As a systemd unit with CapabilityBoundingSet=~CAP_NET_RAW would run it. */
const NO_NET_RAW = ['setpriv', '--bounding-set', '-net_raw', '--inh-caps', '-net_raw'];
const TIMING = 'interval_ms: 200, timeout_ms: 150, rise: 1, fall: 1, jitter: 0';
const CHECK_PORT = 7070;

let lab: Lab;
let xlvsd: XlvsdProcess | undefined;

before(async () => {
  lab = await Lab.create({ reals: 2 });
  await lab.startRealServers();
});

after(async () => {
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

function config(vipCheckMethod: 'dr' | 'tun'): string {
  const [rs1, rs2] = lab.addr.reals;
  return `interfaces: { public: pub0, private: priv0 }
local_addresses: { v4: ${METHOD_LAB.local4} }
services:
  - vip: ${lab.addr.vip}
    port: 80
    scheduler: rr
    check: { type: tcp, ${TIMING}, initial: down }
    reals: [{ address: ${rs1} }]
  - vip: ${lab.addr.vip}
    port: 8002
    scheduler: rr
    check: { type: tcp, address: vip, port: ${CHECK_PORT}, ${TIMING}, initial: up }
    reals: [{ address: ${rs2}, method: ${vipCheckMethod} }]
`;
}

test('this host: every capability is asked, and SYN checks can run', (t) => {
  const caps = probeCapabilities(CAPS_OBJECT);
  assert.deepEqual(caps.list.map((c) => c.name), [...CAPABILITY_NAMES]);
  for (const name of ['bpf_jit', 'prog_test_run', 'fib_lookup_src', 'packet_socket'] as const) {
    const c = caps.list.find((x) => x.name === name)!;
    assert.ok(c.available, `${name}: ${c.detail}`);
  }
  assert.equal(synChecksProblem(caps), undefined);
  // Kernels differ on live frames (this one may refuse them): either answer is reported exactly.
  const live = caps.list.find((x) => x.name === 'xdp_live_frames')!;
  assert.match(live.detail, /^BPF_F_TEST_XDP_LIVE_FRAMES (accepted|refused: [A-Z]+ \(\d+\))$/);
  assert.equal(live.available, live.detail.endsWith('accepted'));
  t.diagnostic(`kernel ${caps.kernel}: ${live.detail}`);
});

test('without CAP_NET_RAW, AF_PACKET is refused with EPERM, and that is why SYN checks cannot run', async () => {
  const script = `import(${JSON.stringify(`${ROOT}dist/src/host/capabilities-probe.js`)}).then((m) => console.log(JSON.stringify(m.probeCapabilities(${JSON.stringify(CAPS_OBJECT)}))))`;
  const { stdout } = await promisify(execFile)(NO_NET_RAW[0]!, [...NO_NET_RAW.slice(1), process.execPath, '-e', script]);
  const caps = JSON.parse(stdout) as Capabilities;
  const raw = caps.list.find((x) => x.name === 'packet_socket')!;
  assert.equal(raw.available, false);
  assert.match(raw.detail, /^socket\(AF_PACKET, SOCK_RAW\) failed: errno 1: needs CAP_NET_RAW$/);
  assert.ok(caps.list.find((x) => x.name === 'prog_test_run')!.available, 'BPF itself still works');
  assert.equal(synChecksProblem(caps), `packet_socket: ${raw.detail}`);
});

async function until(service: string, pred: (c: TargetStatus) => boolean, what: string, ms = 5000): Promise<TargetStatus> {
  const deadline = Date.now() + ms;
  for (;;) {
    const c = (await xlvsd!.api.listHealth()).checks.find((x) => x.service === service);
    assert.ok(c, `a check in ${service}`);
    if (pred(c)) return c;
    if (Date.now() > deadline) throw new Error(`${service}: ${what} not reached in ${ms} ms: ${JSON.stringify(c)}`);
    await sleep(50);
  }
}

test('xlvsd without CAP_NET_RAW: says why SYN checks cannot run, checks by connect() and marks each check so', async () => {
  xlvsd = await XlvsdProcess.start(lab, { config: config('dr'), wrapper: NO_NET_RAW, readyTimeoutMs: 60_000 });
  const caps = await xlvsd.api.getCapabilities();
  assert.equal(caps.list.find((c) => c.name === 'packet_socket')?.available, false);
  assert.equal(caps.synChecks.configured, true);
  assert.equal(caps.synChecks.running, false);
  assert.match(caps.synChecks.problem ?? '', /^packet_socket: socket\(AF_PACKET, SOCK_RAW\) failed: errno 1/);
  assert.match(xlvsd.output, /health\.syn_checks is on, but this host cannot run SYN checks \(packet_socket: socket\(AF_PACKET, SOCK_RAW\) failed: errno 1: needs CAP_NET_RAW\): tcp checks use connect\(\)/);

  const web = `tcp/${lab.addr.vip}:80`;
  const c = await until(web, (x) => x.status === 'up', 'up');
  assert.equal(c.method, 'connect');
  assert.equal(c.degraded, `not SYN: ${caps.synChecks.problem}`);
  assert.doesNotMatch(c.last?.reason ?? '', /SYN-ACK/, 'a connect() result, not a data-plane answer');
  // The VIP on an IPv4 dr real runs without SYN checks (a steered socket): probed as such.
  const vip = await until(`tcp/${lab.addr.vip}:8002`, (x) => x.last !== undefined, 'probed');
  assert.equal(vip.method, 'connect');
});

test('without SYN checks, what only they can do is refused naming the reason: over the API, on reload and at start', async () => {
  assert.ok(xlvsd, 'the daemon of the previous test runs');
  const before = await xlvsd.api.listServices();
  const rs1 = lab.addr.reals[0]!;
  await assert.rejects(
    xlvsd.api.addReal({ vip: lab.addr.vip, port: 8002, protocol: 'tcp' }, { address: rs1, port: 8002, weight: 1, method: 'tun', upper_threshold: 0, lower_threshold: 0 }),
    (e: unknown) => e instanceof ApiCallError && /real\.address: .*health\.syn_checks is on, but this host cannot run SYN checks \(packet_socket/.test(e.message),
  );
  xlvsd.writeConfig(config('tun'));
  xlvsd.reload();
  const deadline = Date.now() + 5000;
  while (!/config rejected; keeping the running state/.test(xlvsd.output)) {
    if (Date.now() > deadline) assert.fail(`no rejection logged: ${xlvsd.output.slice(-1000)}`);
    await sleep(50);
  }
  assert.match(xlvsd.output, /tcp\/[0-9.]+:8002 real [0-9.:]+ check\.address: .*cannot run SYN checks \(packet_socket/);
  assert.deepEqual(await xlvsd.api.listServices().then((l) => l.map((s) => [s.port, s.reals.map((r) => r.method)])), before.map((s) => [s.port, s.reals.map((r) => r.method)]));

  await xlvsd.destroy();
  xlvsd = undefined;
  await assert.rejects(
    XlvsdProcess.start(lab, { config: config('tun'), wrapper: NO_NET_RAW, readyTimeoutMs: 60_000 }),
    (e: unknown) => e instanceof Error && /xlvsd exited during start/.test(e.message) && /cannot run SYN checks \(packet_socket/.test(e.message),
  );
});
