// SPDX-License-Identifier: Apache-2.0
// Source validation with real packets: xlvsd in a lab router, a SYN to the VIP forged in the
// client namespace with a private-LAN source (what an Internet host would send to be trusted as
// an inside address) does not reach the real server, while clients' connections work. An nft
// counter in the real's namespace counts what arrives from the forged source; with
// `source_validation: { mode: off }` (a reload) the same SYNs do arrive, which shows the counter
// would have seen them.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { RawFrames } from '../../src/host/raw-frames.js';
import { ifindexIn, inNetns } from '../../src/kernel/test-run.js';
import { buildFrame } from '../../testing/frames.js';

const VIP = '203.0.113.100';
const FORGED = '10.77.0.50'; // a host of the private LAN, as a source arriving on the public side

const config = (extra = ''): string => `interfaces: { public: pub0, private: priv0 }
${extra}services:
  - { vip: ${VIP}, port: 80, scheduler: rr, reals: [{ address: 10.77.0.11 }] }
`;

let lab: Lab;
let xlvsd: XlvsdProcess;
const mac = (ns: string, dev: string): string =>
  (JSON.parse(execFileSync('ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev], { encoding: 'utf8' })) as Array<{ address: string }>)[0]!.address;

before(async () => {
  lab = await Lab.create({ reals: 1 });
  await lab.startRealServers();
  xlvsd = await XlvsdProcess.start(lab, { config: config() });
  const nft = (...args: string[]) => lab.exec(lab.ns.reals[0]!, ['nft', ...args]);
  await nft('add', 'table', 'inet', 'xlvs_srcval');
  await nft('add', 'chain', 'inet', 'xlvs_srcval', 'in', '{ type filter hook prerouting priority -300; }');
  await nft('add', 'rule', 'inet', 'xlvs_srcval', 'in', 'ip', 'saddr', FORGED, 'tcp', 'dport', '80', 'counter');
});

after(async () => {
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

/** Packets from the forged source the real's namespace has seen. */
async function arrived(): Promise<number> {
  const { stdout } = await lab.exec(lab.ns.reals[0]!, ['nft', '-j', 'list', 'chain', 'inet', 'xlvs_srcval', 'in']);
  const rules = (JSON.parse(stdout) as { nftables: Array<{ rule?: { expr: Array<{ counter?: { packets: number } }> } }> }).nftables;
  const counter = rules.flatMap((r) => r.rule?.expr ?? []).find((e) => e.counter !== undefined);
  assert.ok(counter?.counter, 'the nft counter is there');
  return counter.counter.packets;
}

let sport = 40000;
/** Sends n SYNs to VIP:80 from the forged source, out of the client's eth0, as raw frames. */
function sendForged(n: number): void {
  const src = mac(lab.ns.client, 'eth0');
  const dst = mac(lab.ns.router, 'pub0');
  const frames = Array.from({ length: n }, () => buildFrame({
    eth: { src, dst },
    l3: { kind: 'ipv4', src: FORGED, dst: VIP, id: 1, ttl: 64, l4: { kind: 'tcp', sport: sport++, dport: 80, seq: 1, flags: 'SYN' } },
  }));
  const client = lab.nsPath(lab.ns.client);
  inNetns(client, () => {
    const raw = new RawFrames({ ifindex: ifindexIn(client, 'eth0') });
    try {
      assert.equal(raw.sendFrames(frames).sent, n);
    } finally {
      raw.close();
    }
  });
}

async function reloadWith(text: string): Promise<void> {
  xlvsd.writeConfig(text);
  const mark = xlvsd.output.length;
  xlvsd.reload();
  const deadline = Date.now() + 5000;
  while (!/config reloaded/.test(xlvsd.output.slice(mark))) {
    if (Date.now() > deadline) assert.fail(`no reload: ${xlvsd.output.slice(mark)}`);
    await sleep(50);
  }
}

test('strict (the default): forged private-LAN SYNs are dropped as martian and never reach the real; clients connect', async () => {
  const before = (await xlvsd.api.drops())['martian'] ?? 0n;
  sendForged(5);
  await sleep(300);
  assert.equal(await arrived(), 0, 'nothing from the forged source reached the real');
  assert.equal((await xlvsd.api.drops())['martian'], before + 5n, 'each forged SYN counted as martian');
  const r = await lab.client('http', ['--host', VIP, '--port', '80', '--count', '5']);
  assert.deepEqual(r, { counts: { rs1: 5 }, errors: 0, errorSamples: [] }, 'a client\'s connections work');
});

test('mode off (reloaded): the same forged SYNs reach the real', async () => {
  await reloadWith(config('source_validation: { mode: off }\n'));
  const before = await arrived();
  sendForged(5);
  const deadline = Date.now() + 3000;
  while ((await arrived()) < before + 5 && Date.now() < deadline) await sleep(50);
  assert.equal(await arrived(), before + 5);
  await reloadWith(config());
});
