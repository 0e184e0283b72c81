// SPDX-License-Identifier: Apache-2.0
// The raw-frame sender (src/host/raw-frames.ts) on a real veth of a lab: whole batches leave
// with one sendmmsg each and arrive at the peer, every frame counted; a device that is down
// refuses the batch with its errno; bad input is refused before anything is sent.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Lab } from '../../lab/lab.js';
import { RawFrames } from '../../src/host/raw-frames.js';
import { ifindexIn, inNetns } from '../../src/kernel/test-run.js';
import { buildFrame } from '../../testing/frames.js';
import { BpfError, InvalidArgumentError } from '../../src/errors.js';

const ENETDOWN = 100;
const ETH_HLEN = 14;

let lab: Lab;
let raw: RawFrames;

const linkStats = (ns: string, dev: string): { packets: number; bytes: number } =>
  (JSON.parse(execFileSync('ip', ['-n', ns, '-s', '-j', 'link', 'show', 'dev', dev], { encoding: 'utf8' })) as Array<{ stats64: { rx: { packets: number; bytes: number } } }>)[0]!.stats64.rx;

before(async () => {
  lab = await Lab.create({ reals: 1 });
  // No IPv6 chatter (router solicitations, MLD) on the link while we count.
  for (const [ns, dev] of [[lab.ns.router, 'pub0'], [lab.ns.client, 'eth0']] as const) execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `net.ipv6.conf.${dev}.disable_ipv6=1`]);
  const rtr = lab.nsPath(lab.ns.router);
  const pub0 = ifindexIn(rtr, 'pub0');
  raw = inNetns(rtr, () => new RawFrames({ ifindex: pub0, batch: 256, frameMax: 128 }));
});

after(async () => {
  raw?.close();
  await lab?.destroy();
});

test('20,000 frames in batches of 256 leave pub0 and all arrive at the client\'s eth0, packets and bytes counted', () => {
  // Addressed to a MAC nobody has: the client's stack counts and discards it, and never answers.
  const frame = buildFrame({ eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:99' }, l3: { kind: 'ipv4', src: '203.0.113.1', dst: '203.0.113.2', l4: { kind: 'udp', sport: 9, dport: 9, payload: Buffer.alloc(18) } } });
  for (let i = 0; i < raw.batch; i++) raw.slot(i).set(frame);
  const lengths = new Array<number>(raw.batch).fill(frame.length);
  const before = linkStats(lab.ns.client, 'eth0');
  const N = 20_000;
  let sent = 0;
  for (let calls = 0; sent < N; calls++) {
    assert.ok(calls < 200, 'bounded: at most 200 batches');
    const r = raw.send(lengths.slice(0, Math.min(raw.batch, N - sent)));
    assert.equal(r.errno, 0, `batch ${calls}: errno ${r.errno} after ${r.sent}`);
    sent += r.sent;
  }
  const after = linkStats(lab.ns.client, 'eth0');
  assert.equal(after.packets - before.packets, N, `client eth0 received ${after.packets - before.packets} of ${N}`);
  // A veth counts what its peer's stack got: the frame without its Ethernet header.
  assert.equal(after.bytes - before.bytes, N * (frame.length - ETH_HLEN));
});

test('sendFrames copies each frame into a slot; frames of different lengths go in one batch', () => {
  const mk = (payload: number): Buffer => buildFrame({ eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:99' }, l3: { kind: 'ipv4', src: '203.0.113.1', dst: '203.0.113.2', l4: { kind: 'udp', sport: 9, dport: 9, payload: Buffer.alloc(payload) } } });
  const frames = [mk(18), mk(50), mk(70)];
  const before = linkStats(lab.ns.client, 'eth0');
  assert.deepEqual(raw.sendFrames(frames), { sent: 3, errno: 0 });
  const after = linkStats(lab.ns.client, 'eth0');
  assert.equal(after.packets - before.packets, 3);
  assert.equal(after.bytes - before.bytes, frames.reduce((n, f) => n + f.length - ETH_HLEN, 0));
});

test('a device that is down refuses the batch: nothing sent, ENETDOWN returned', async () => {
  await lab.exec(lab.ns.router, ['ip', 'link', 'set', 'pub0', 'down']);
  try {
    raw.slot(0).fill(0xff, 0, 60);
    assert.deepEqual(raw.send([60, 60]), { sent: 0, errno: ENETDOWN });
  } finally {
    await lab.exec(lab.ns.router, ['ip', 'link', 'set', 'pub0', 'up']);
  }
});

test('bad input is refused naming the field, before anything is sent; a closed sender refuses to send', () => {
  assert.throws(() => raw.send([10]), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'lengths[0]');
  assert.throws(() => raw.send([60, 129]), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'lengths[1]');
  assert.throws(() => raw.send(new Array<number>(257).fill(60)), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'frames');
  assert.throws(() => new RawFrames({ ifindex: 0 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'ifindex');
  assert.throws(() => new RawFrames({ ifindex: 1, batch: 0 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'batch');
  // An interface index that does not exist: bind() says so.
  assert.throws(() => new RawFrames({ ifindex: 0x7ffffff0 }), (e: unknown) => e instanceof BpfError && e.op === 'bind(AF_PACKET)' && e.errno === 19);
  const other = new RawFrames({ ifindex: 1, batch: 1, frameMax: 64 });
  other.close();
  assert.throws(() => other.send([60]), (e: unknown) => e instanceof BpfError && e.errno === 9);
});
