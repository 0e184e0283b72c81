// SPDX-License-Identifier: Apache-2.0
// Forged answers to SYN checks from the private LAN (issue 14, defect 7), end to end: a real
// xlvsd in the namespace lab checks a live real (rs1:80, on_failure: remove, fall 1) and a dead
// one (rs2, whose check port drops every SYN: rise 1), while rs3 (a host on the same LAN, itself
// a checked real) sends, for a bounded time, the RSTs "from" rs1 and SYN-ACKs "from" rs2 that the
// old predictable scheme would have taken (lab/forge-probe-answers.ts): for every slot of
// generation 1, and, hammered, for the next slots after the one its own latest probe came from
// (seen with tcpdump). The live real must stay up and the dead one down; the forged answers that
// met a probe in flight are counted (drops: probe_forged).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import type { TargetStatus } from '../../src/health/report.js';

const VIP = '203.0.113.100';
const RS = ['10.77.0.11', '10.77.0.12', '10.77.0.13'];
const CHECK_PORT = 7070;
const LIVE = 'tcp/203.0.113.100:80';
const DEAD = 'tcp/203.0.113.100:9000';
const OWN = 'tcp/203.0.113.100:9100';
const TIMING = 'interval_ms: 200, timeout_ms: 150, rise: 1, fall: 1, jitter: 0';
// The live real's probes get the whole interval: rs3's flood shares the machine's cores, and a
// genuine SYN-ACK once came back after 150 ms under the full suite (a timeout, not a forgery, but
// with fall 1 it took the real down). A forged RST taken as an answer still fails it at once.
const LIVE_TIMING = 'interval_ms: 250, timeout_ms: 250, rise: 1, fall: 1, jitter: 0';
const ATTACK_MS = 4000;
const FORGER = fileURLToPath(new URL('../../lab/forge-probe-answers.js', import.meta.url));

const CONFIG = `interfaces: { public: pub0, private: priv0 }
services:
  - vip: ${VIP}
    port: 80
    scheduler: rr
    check: { type: tcp, ${LIVE_TIMING}, initial: down, on_failure: remove }
    reals: [{ address: ${RS[0]} }]
  - vip: ${VIP}
    port: 9000
    scheduler: rr
    check: { type: tcp, port: ${CHECK_PORT}, ${TIMING}, initial: down }
    reals: [{ address: ${RS[1]} }]
  - vip: ${VIP}
    port: 9100
    scheduler: rr
    check: { type: tcp, interval_ms: 50, timeout_ms: 40, jitter: 0 }
    reals: [{ address: ${RS[2]}, port: 80 }]
`;

let lab: Lab;
let xlvsd: XlvsdProcess;

before(async () => {
  lab = await Lab.create();
  await lab.startRealServers();
  // rs2's check port is dead: no SYN-ACK, no RST, every probe times out.
  await lab.exec(lab.ns.reals[1]!, ['nft', `add table inet xlvs_test; add chain inet xlvs_test in { type filter hook input priority 0; }; add rule inet xlvs_test in tcp dport ${CHECK_PORT} drop`]);
  xlvsd = await XlvsdProcess.start(lab, { config: CONFIG, readyTimeoutMs: 60_000 });
});

after(async () => {
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

async function status(service: string, real: string): Promise<TargetStatus> {
  const c = (await xlvsd.api.listHealth()).checks.find((x) => x.service === service && x.real === real);
  assert.ok(c, `check of ${real} in ${service} listed`);
  return c;
}

async function mac(ns: string, dev: string): Promise<string> {
  const [link] = JSON.parse((await lab.exec(ns, ['ip', '-j', 'link', 'show', 'dev', dev])).stdout) as Array<{ address: string }>;
  assert.ok(link, `${dev} in ${ns}`);
  return link.address;
}

async function until(service: string, real: string, pred: (s: TargetStatus) => boolean, what: string, timeoutMs = 10_000): Promise<TargetStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await status(service, real);
    if (pred(s)) return s;
    if (Date.now() > deadline) throw new Error(`${real} of ${service}: ${what} not reached in ${timeoutMs} ms; last ${JSON.stringify(s)}`);
    await sleep(50);
  }
}

/** A pino line's message (the line itself when it is not JSON). */
function logMessage(line: string): string {
  try {
    return (JSON.parse(line) as { msg?: string }).msg ?? line;
  } catch {
    return line;
  }
}

test('forged RSTs do not take a live real down, forged SYN-ACKs do not bring a dead one up', async (t) => {
  const live = `${RS[0]}:80`, dead = `${RS[1]}:9000`;
  await until(LIVE, live, (s) => s.status === 'up' && s.last?.reason === 'connected (SYN-ACK)', 'up through the data plane');
  await until(DEAD, dead, (s) => s.status === 'down' && /^timeout/.test(s.last?.reason ?? ''), 'down on timeouts');
  const liveBefore = await status(LIVE, live);
  const deadBefore = await status(DEAD, dead);
  const forgedBefore = (await xlvsd.api.drops())['probe_forged'] ?? 0n;
  const spec = {
    ifname: 'eth0', srcMac: await mac(lab.ns.reals[2]!, 'eth0'), routerMac: await mac(lab.ns.router, lab.ifaces.private),
    router: lab.addr.routerPrivate, ms: ATTACK_MS, follow: { port: 80, ahead: 16 },
    forge: [{ from: RS[0], port: 80, flags: 'RST,ACK' }, { from: RS[1], port: CHECK_PORT, flags: 'SYN,ACK' }],
  };
  const mark = xlvsd.output.length;
  const { stdout } = await lab.exec(lab.ns.reals[2]!, [process.execPath, FORGER, JSON.stringify(spec)], { timeoutMs: ATTACK_MS + 20_000 });
  // What the daemon said of either real meanwhile: a failure names its reason.
  const transitions = xlvsd.output.slice(mark).split('\n').filter((l) => / is (down|up)\b/.test(l) && (l.includes(RS[0]!) || l.includes(RS[1]!))).map(logMessage);
  const sent = JSON.parse(stdout.trim()) as { sent: number; refused: number; turns: number; seen: number };
  assert.ok(sent.sent >= 2 * 4096, `rs3 forged at least one sweep of answers: ${stdout.trim()}`);
  assert.ok(sent.seen >= 10, `rs3 saw its own probes' SYNs and followed the slots: ${stdout.trim()}`);
  const liveAfter = await status(LIVE, live);
  const deadAfter = await status(DEAD, dead);
  const probes = liveAfter.counters.probes_ok - liveBefore.counters.probes_ok;
  assert.ok(probes >= 10, `rs1 was probed during the attack: ${probes} times`);
  // A forged answer taken shows as a failure of the live real that is not a timeout (a RST:
  // refused) or as a probe of the dead one that succeeded. The live real's probes may still time
  // out when rs3's flood holds the cores (seen under the full suite: its SYN-ACK late, twice, and
  // then it is down when the attack ends); the daemon counts those apart (probes_timed_out), so
  // any failure on an answer is seen, whatever the load, and the real must be back up at once.
  const liveFailed = liveAfter.counters.probes_failed - liveBefore.counters.probes_failed;
  const liveTimedOut = liveAfter.counters.probes_timed_out - liveBefore.counters.probes_timed_out;
  const liveBack: TargetStatus | Error = liveAfter.status === 'up' ? liveAfter : await until(LIVE, live, (s) => s.status === 'up', 'up again after the attack', 3000).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
  t.diagnostic(`live real: ${liveFailed} probes failed, ${liveTimedOut} of them timeouts under the flood`);
  // Both in one comparison, so that a failure shows both halves.
  assert.deepEqual(
    {
      live: { failed_on_an_answer: liveFailed - liveTimedOut, down_not_timeout: transitions.filter((m) => m.includes(`${RS[0]}:80 of`) && m.includes(' is down') && !/is down: timeout after /.test(m)).length, up_after: liveBack instanceof Error ? liveBack.message : liveBack.status },
      dead: { status: deadAfter.status, went_up: deadAfter.counters.went_up - deadBefore.counters.went_up, ok: deadAfter.counters.probes_ok - deadBefore.counters.probes_ok },
    },
    { live: { failed_on_an_answer: 0, down_not_timeout: 0, up_after: 'up' }, dead: { status: 'down', went_up: 0, ok: 0 } },
    `the live real failed no probe but by timeouts and is up, the dead one down with none ok (${sent.turns} turns); transitions: ${JSON.stringify(transitions)}; last: ${JSON.stringify(liveAfter.last)}, ${JSON.stringify(deadAfter.last)}`,
  );
  // rs2's probes are out 150 ms of every 200: forged SYN-ACKs met them on their port and were counted.
  const forged = ((await xlvsd.api.drops())['probe_forged'] ?? 0n) - forgedBefore;
  t.diagnostic(`forger: ${stdout.trim()}; rs1 probed ${probes} times; probe_forged +${forged}`);
  assert.ok(forged > 0n, `forged answers counted: ${forged}`);
});
