// SPDX-License-Identifier: Apache-2.0
// xlvsd under `ip netns exec` (issue 13): that command gives the daemon a mount namespace of its
// own with /sys mounted afresh, so the bpffs xlvsd pins into is private and dies with it, and
// the XDP programs detach at exit although the daemon says "data plane left running". xlvsd
// sees at start that PID 1's mount namespace lacks its bpffs and refuses, saying why and how;
// --allow-private-bpffs starts it anyway with a warning. (The lab itself uses nsenter, which
// keeps the host's /sys.)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';

const CONFIG = `interfaces: { public: pub0, private: priv0 }
services:
  - { vip: 203.0.113.100, port: 80, scheduler: rr, reals: [{ address: 10.77.0.11, port: 8080 }] }
`;

let lab: Lab;
let xlvsd: XlvsdProcess | undefined;

before(async () => {
  lab = await Lab.create({ reals: 1 });
});

after(async () => {
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

const ipNetnsExec = (): string[] => ['ip', 'netns', 'exec', lab.ns.router];

/** Whether pub0 in the router has an XDP program (ip -j link show). */
async function xdpOnPub0(): Promise<boolean> {
  const { stdout } = await lab.exec(lab.ns.router, ['ip', '-j', 'link', 'show', 'dev', 'pub0']);
  return (JSON.parse(stdout) as Array<{ xdp?: unknown }>)[0]!.xdp !== undefined;
}

test('under ip netns exec, xlvsd refuses to start on a private bpffs, saying why and how', async () => {
  await assert.rejects(XlvsdProcess.start(lab, { config: CONFIG, wrapper: ipNetnsExec() }), (e: unknown) => {
    const msg = (e as Error).message;
    assert.match(msg, /exited during start \(code 1/);
    assert.match(msg, /E_BPFFS_PRIVATE/);
    assert.match(msg, /pin-dir: \/sys\/fs\/bpf\/xlvs-\w+-xlvs is on a bpffs \(\/sys\/fs\/bpf, device \d+:\d+\) that PID 1's mount namespace does not have, so the data plane would be detached when xlvsd exits/);
    assert.match(msg, /run xlvsd with `nsenter --net=\/run\/netns\/NAME` instead, or pass --allow-private-bpffs/);
    return true;
  });
  assert.equal(await xdpOnPub0(), false, 'nothing attached');
});

test('--allow-private-bpffs starts it with a warning; the pins are not the host\'s and go with it', async () => {
  xlvsd = await XlvsdProcess.start(lab, { config: CONFIG, wrapper: ipNetnsExec(), extraArgs: ['--allow-private-bpffs'] });
  assert.match(xlvsd.output, /"level":40[^\n]*the pin dir is on a bpffs private to this mount namespace \(--allow-private-bpffs\): the XDP programs detach and every pin goes when xlvsd exits/);
  assert.equal(await xdpOnPub0(), true, 'attached while it runs');
  assert.equal(existsSync(join(xlvsd.pinDir, 'maps')), false, 'no pin on the host\'s bpffs');
  await xlvsd.stop();
  const deadline = Date.now() + 5000;
  while ((await xdpOnPub0()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(await xdpOnPub0(), false, 'detached when the process (and its mount namespace) went');
});
