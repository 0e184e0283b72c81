// SPDX-License-Identifier: Apache-2.0
// Issue 14, defect 6 in the lab, with real traffic: a nat real answers a UDP request with a
// datagram larger than its link's MTU (a large EDNS answer), which its kernel sends as IP
// fragments. Through the real XDP programs (written by the test, no daemon: DataplaneFixture)
// every fragment must be translated, so the client reassembles one datagram from VIP:port and
// never sees the real's address (before the fix the fragments were passed to the kernel
// untranslated and the client got the answer from 10.77.0.11).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { Lab } from '../../lab/lab.js';
import { DataplaneFixture } from '../../lab/dataplane-fixture.js';
import { XLVS_DROP_REPLY_FRAGMENT, XLVS_EV_FWD } from '../../src/gen/abi.js';

const PORT = 5400;
const ANSWER = 4000; // bytes: three fragments at MTU 1500

// The real's server: every datagram is answered with ANSWER bytes.
const SERVER = `const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => s.send(Buffer.alloc(${ANSWER}, 0x61), r.port, r.address));
s.bind(${PORT}, '0.0.0.0', () => console.log('READY'));`;

// The client: one request; prints who answered and how much.
const CLIENT = (host: string): string => `const s = require('node:dgram').createSocket('udp4');
const t = setTimeout(() => { console.log(JSON.stringify({ timeout: true })); process.exit(0); }, 3000);
s.on('message', (m, r) => { clearTimeout(t); console.log(JSON.stringify({ from: r.address, port: r.port, bytes: m.length })); process.exit(0); });
s.send('query', ${PORT}, '${host}');`;

let lab: Lab;
let dp: DataplaneFixture | undefined;
let server: ChildProcess | undefined;

before(async () => {
  lab = await Lab.create({ reals: 1 });
  dp = await DataplaneFixture.attach(lab);
  dp.addService({ vip: lab.addr.vip, port: PORT, protocol: 'udp', reals: [{ address: lab.addr.reals[0]!, method: 'nat' }] });
  server = lab.spawn(lab.ns.reals[0]!, [process.execPath, '-e', SERVER]);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the real\'s UDP server did not start within 5 s')), 5000);
    server!.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('READY')) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  // The router knows the client's MAC before the first answer (XDP does not resolve neighbours).
  await lab.exec(lab.ns.router, ['ping', '-c', '1', '-W', '1', lab.addr.client]);
});

after(async () => {
  server?.kill();
  await dp?.destroy().catch((e: unknown) => console.error('fixture teardown failed', e));
  await lab?.destroy();
});

const events = (i: number): bigint => dp!.events(i);

test('a fragmented UDP answer of a nat real reaches the client whole, from the VIP', async () => {
  const fwd0 = events(XLVS_EV_FWD);
  for (let i = 0; i < 3; i++) {
    const { stdout } = await lab.exec(lab.ns.client, [process.execPath, '-e', CLIENT(lab.addr.vip)]);
    const got = JSON.parse(stdout.trim()) as { from?: string; port?: number; bytes?: number; timeout?: boolean };
    assert.deepEqual(got, { from: lab.addr.vip, port: PORT, bytes: ANSWER }, `answer ${i + 1}; data plane: ${JSON.stringify(dp!.outcomes())}`);
  }
  // Each answer's three fragments were forwarded by XDP (a reply is never handed to the kernel;
  // a request may be, while the real's neighbour is unresolved).
  assert.ok(events(XLVS_EV_FWD) - fwd0 >= 3n * 3n, `forwarded ${events(XLVS_EV_FWD) - fwd0}; ${JSON.stringify(dp!.outcomes())}`);
  assert.equal(dp!.drops(XLVS_DROP_REPLY_FRAGMENT), 0n);
});
