// SPDX-License-Identifier: Apache-2.0
// A next hop the data plane needs but the kernel no longer has resolved (issue 13, defect 12).
// XDP traffic neither uses nor confirms neighbour entries, so once the router's entry for a
// client is gone (the kernel's GC removes STALE entries nobody used for 60 s when the table is
// big; a link change flushes them) or FAILED, the replies to that client were dropped as
// no_neigh until the client ARPed for the VIP by itself: 35-51 s of failed connections here.
// Now the data plane reports the next hop and xlvsd has the kernel resolve it: the client's
// SYN retransmit a second later gets through.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';

const CONFIG = `interfaces: { public: pub0, private: priv0 }
services:
  - { vip: 203.0.113.100, port: 80, scheduler: rr, reals: [{ address: 10.77.0.11 }, { address: 10.77.0.12 }] }
`;

let lab: Lab;
let xlvsd: XlvsdProcess;

before(async () => {
  lab = await Lab.create({ reals: 2 });
  await lab.startRealServers();
  xlvsd = await XlvsdProcess.start(lab, { config: CONFIG });
});

after(async () => {
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

/** One HTTP request to the VIP on a new connection; the client gives up after 5 s. */
const request = () => lab.client('http', ['--host', lab.addr.vip, '--port', '80', '--count', '1']);
/** The router's entry for the client on its public side, as `ip neigh` shows it ('' when none). */
const clientEntry = async (): Promise<string> =>
  (await lab.exec(lab.ns.router, ['ip', 'neigh', 'show', lab.addr.client, 'dev', 'pub0'])).stdout.trim();
const noNeigh = async (): Promise<bigint> => (await xlvsd.api.drops()).no_neigh ?? 0n;

for (const [what, spoil] of [
  ['removed (as the GC or a flush removes it)', ['ip', 'neigh', 'del', '%client', 'dev', 'pub0']],
  ['FAILED', ['ip', 'neigh', 'replace', '%client', 'dev', 'pub0', 'nud', 'failed']],
] as const) {
  test(`the router's neighbour entry for a client ${what}: its next connection works within a SYN retransmit`, async () => {
    const warm = await request();
    assert.equal(warm.errors, 0, `before: ${JSON.stringify(warm)}`);
    await lab.exec(lab.ns.router, spoil.map((a) => (a === '%client' ? lab.addr.client : a)));
    assert.doesNotMatch(await clientEntry(), /REACHABLE|STALE|DELAY|PROBE/, 'the entry is not usable');
    const drops = await noNeigh();
    const mark = xlvsd.output.length;
    const t = Date.now();
    const r = await request();
    assert.equal(r.errors, 0, `the connection failed: ${JSON.stringify(r)}; log: ${xlvsd.output.slice(mark).slice(-1500)}`);
    assert.ok(Date.now() - t < 4000, `took ${Date.now() - t} ms`);
    assert.ok((await noNeigh()) > drops, 'the reply was dropped once, and that reported the next hop');
    assert.match(await clientEntry(), /lladdr \S+ (REACHABLE|STALE|DELAY|PROBE)/);
    assert.match(xlvsd.output.slice(mark), new RegExp(`"nexthop":"${lab.addr.client.replace(/\./g, '\\.')}","dev":"pub0"[^\\n]*asked the kernel to resolve it`));
  });
}
