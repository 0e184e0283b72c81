// SPDX-License-Identifier: Apache-2.0
// `check: { address: vip }` with SYN checks (the default): the VIP checked on each dr and each
// tun real, IPv4 and IPv6, by a SYN to the VIP sent at the real's MAC (dr) or inside the tunnel
// to it (tun). rs1 listens on the check port at the VIP only, rs2 listens nowhere on it: rs1 up
// and rs2 down on its RST proves each probe reached the VIP on that very real; the decapsulator
// on rs1 stripping two tunnel headers per probe proves the tun probe's SYN and the RST after
// its SYN-ACK both went through the tunnel.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { Lab } from '../../lab/lab.js';
import { addLabV6, type LabV6Addresses } from '../../lab/lab-v6.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { decapCounters, METHOD_LAB, prepareMethodLab, removeDecapPins } from '../../lab/method-reals.js';
import { captureStderr, stopChild, waitForLine } from '../../lab/child.js';
import { VIP_RULE_PREF } from '../../src/health/vip-routes.js';
import type { TargetStatus } from '../../src/health/report.js';

const PORT = 7070;
const TIMING = 'interval_ms: 200, timeout_ms: 150, rise: 1, fall: 1, jitter: 0';

let lab: Lab;
let v6: LabV6Addresses;
let xlvsd: XlvsdProcess | undefined;
const listeners: ChildProcess[] = [];

function config(drMethod: 'dr' | 'tun' = 'dr'): string {
  const svc = (vip: string, port: number, method: 'dr' | 'tun', reals: string[], initial: 'up' | 'down'): string =>
    [`  - vip: ${vip.includes(':') ? `"${vip}"` : vip}`, `    port: ${port}`, '    scheduler: rr',
      `    check: { type: tcp, address: vip, port: ${PORT}, ${TIMING}, initial: ${initial} }`,
      '    reals:', ...reals.map((a) => `      - { address: ${a.includes(':') ? `"${a}"` : a}, method: ${method} }`)].join('\n');
  const r4 = lab.addr.reals.slice(0, 2);
  const r6 = v6.reals.slice(0, 2);
  return [
    'interfaces: { public: pub0, private: priv0 }',
    `local_addresses: { v4: ${METHOD_LAB.local4}, v6: "${METHOD_LAB.local6}" }`,
    'services:',
    svc(lab.addr.vip, 8002, drMethod, r4, 'down'),
    svc(lab.addr.vip, 8003, 'tun', r4, 'up'),
    svc(v6.vip, 8002, 'dr', r6, 'down'),
    svc(v6.vip, 8003, 'tun', r6, 'up'),
    '',
  ].join('\n');
}

/** A TCP listener on the check port bound to the VIP only, in real i's namespace. */
async function listenAtVip(i: number, vip: string): Promise<void> {
  const child = lab.spawn(lab.ns.reals[i]!, [process.execPath, '-e',
    `require('net').createServer((s) => s.destroy()).listen(${PORT}, '${vip}', () => console.log('READY')); process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`]);
  listeners.push(child);
  await waitForLine(child, 'READY', 10_000, captureStderr(child, (line) => console.error(`vip listener: ${line}`)));
}

before(async () => {
  lab = await Lab.create({ reals: 4 });
  v6 = await addLabV6(lab);
  await prepareMethodLab(lab, [lab.addr.vip, v6.vip]);
  await listenAtVip(0, lab.addr.vip);
  await listenAtVip(0, v6.vip);
  xlvsd = await XlvsdProcess.start(lab, { config: config(), readyTimeoutMs: 60_000 });
});

after(async () => {
  for (const l of listeners) await stopChild(l).catch((e: unknown) => console.error('listener teardown failed', e));
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  if (lab) for (const i of [0, 1]) removeDecapPins(lab, i);
  await lab?.destroy();
});

/** Failed results seen while waiting, by check: what a failed assertion on the counters shows. */
const failuresSeen = new Map<string, string[]>();

async function until(service: string, real: string, pred: (c: TargetStatus) => boolean, what: string, ms = 5000): Promise<TargetStatus> {
  const deadline = Date.now() + ms;
  for (;;) {
    const c = (await xlvsd!.api.listHealth()).checks.find((x) => x.service === service && x.real === real);
    assert.ok(c, `a check of ${real} in ${service}`);
    if (c.last && !c.last.ok) {
      const seen = failuresSeen.get(`${service} ${real}`) ?? [];
      const line = `${c.last.reason} (${c.last.ms} ms, at ${c.last.at})`;
      if (seen.at(-1) !== line) seen.push(line);
      failuresSeen.set(`${service} ${real}`, seen);
    }
    if (pred(c)) return c;
    if (Date.now() > deadline) throw new Error(`${real} of ${service}: ${what} not reached in ${ms} ms: ${JSON.stringify(c)}`);
    await sleep(50);
  }
}

const id = (a: string, port: number): string => (a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`);

for (const method of ['dr', 'tun'] as const) {
  test(`${method}: the VIP is checked on each real by a SYN to it, IPv4 and IPv6`, async () => {
    const port = method === 'dr' ? 8002 : 8003;
    for (const [vip, reals] of [[lab.addr.vip, lab.addr.reals], [v6.vip, v6.reals]] as const) {
      const service = `tcp/${id(vip, port)}`;
      const up = await until(service, id(reals[0]!, 0), (c) => c.status === 'up' && c.last?.reason === 'connected (SYN-ACK)', 'up on a SYN-ACK');
      assert.equal(up.address, vip, 'the probe goes to the VIP');
      assert.equal(up.method, 'syn', 'a SYN from the data plane, not a socket');
      // not even the first probes failed on an answer: one that found rs1's MAC unresolved was
      // sent again (not resent, it fails at once saying so). A SYN-ACK later than the timeout on a
      // loaded machine is a timeout, counted apart.
      assert.equal(up.counters.probes_failed - up.counters.probes_timed_out, 0, `no probe of rs1 failed but by a timeout (${service}): ${up.counters.probes_timed_out} timed out; seen ${JSON.stringify(failuresSeen.get(`${service} ${id(reals[0]!, 0)}`) ?? [])}`);
      assert.equal(up.port, PORT);
      // rs2 holds the VIP as well, but nothing listens there on the check port
      const down = await until(service, id(reals[1]!, 0), (c) => c.status === 'down', 'down');
      assert.equal(down.last?.reason, 'connect ECONNREFUSED (RST)');
    }
    if (method === 'tun') {
      // Both the SYN and the RST that answers rs1's SYN-ACK go through the tunnel: rs1's
      // decapsulator strips two headers per probe. (Sent bare, the RST would reach rs1 here,
      // on the same LAN, but not across a routed hop.)
      const probes = async (): Promise<bigint[]> => Promise.all([lab.addr.vip, v6.vip].map(async (vip, i) =>
        BigInt((await until(`tcp/${id(vip, port)}`, id(i === 0 ? lab.addr.reals[0]! : v6.reals[0]!, 0), () => true, 'listed')).counters.probes_ok)));
      const p0 = await probes();
      const d0 = await decapCounters(lab, 0);
      await sleep(2000); // ten more rounds of probes
      const d1 = await decapCounters(lab, 0);
      const p1 = await probes();
      const v4 = d1.decap_v4! - d0.decap_v4!;
      const v6n = d1.decap_v6! - d0.decap_v6!;
      // the probe counts are read just outside the decap window: one probe of slack each side
      assert.ok(p1[0]! - p0[0]! >= 8n && v4 >= 2n * (p1[0]! - p0[0]! - 2n), `IPv4: ${v4} headers stripped for ${p1[0]! - p0[0]!} probes`);
      assert.ok(p1[1]! - p0[1]! >= 8n && v6n >= 2n * (p1[1]! - p0[1]! - 2n), `IPv6: ${v6n} headers stripped for ${p1[1]! - p0[1]!} probes`);
      const { stdout } = await lab.exec(lab.ns.reals[0]!, ['ss', '-Htan', 'state', 'syn-recv']);
      assert.equal(stdout.trim(), '', 'no half-open connection left on rs1');
    }
  });
}

test('a real whose method changes from dr to tun is checked the new way from the reload on', async () => {
  const service = `tcp/${id(lab.addr.vip, 8002)}`;
  const real = id(lab.addr.reals[0]!, 0);
  const before = await until(service, real, (c) => c.status === 'up', 'up');
  // the tun services keep probing rs1 through the tunnel: count over a quiet second first
  const d0 = await decapCounters(lab, 0);
  await sleep(1000);
  const d1 = await decapCounters(lab, 0);
  const baseline = d1.decap_v4! - d0.decap_v4!;
  xlvsd!.writeConfig(config('tun'));
  xlvsd!.reload();
  // the target starts over (its way to the real changed): a new state, up again on a SYN-ACK
  const after = await until(service, real, (c) => c.since !== before.since && c.status === 'up' && c.last?.reason === 'connected (SYN-ACK)', 'up again after the reload', 10_000);
  assert.equal(after.address, lab.addr.vip);
  const d2 = await decapCounters(lab, 0);
  await sleep(1000);
  const d3 = await decapCounters(lab, 0);
  // five more probes a second through the tunnel, each a SYN and a RST
  assert.ok(d3.decap_v4! - d2.decap_v4! >= baseline + 6n, `tunnel headers per second: ${baseline} before, ${d3.decap_v4! - d2.decap_v4!} after`);
});

test('SYN checks of the VIP need no policy routing', async () => {
  assert.equal((await lab.exec(lab.ns.router, ['ip', 'rule', 'show', 'pref', String(VIP_RULE_PREF)])).stdout.trim(), '');
});
