// SPDX-License-Identifier: Apache-2.0
// SyncReceiver's connection handling (no data plane: only HELLO and an empty bulk, which install
// nothing). A connection counts as the peer's only once its HELLO proves the key: an idle or
// garbage-sending connection neither blocks the peer nor disturbs its connection, and is closed and
// counted; a new authenticated connection of the peer replaces its older one (a restart, a cut link).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { SyncReceiver, MAX_PENDING } from '../../src/ha/sync-receiver.js';
import { FrameType, FrameWriter, bytes, encodeCount, encodeHello } from '../../src/ha/sync-frames.js';

const KEY = randomBytes(32);
const log = pino({ level: 'silent' });

function receiver(helloTimeoutMs = 10_000): SyncReceiver {
  return new SyncReceiver({ host: '127.0.0.1', port: 0, key: KEY, peer: 'ra', log, helloTimeoutMs, flows: {} as never, persist: {} as never, slots: (() => ({})) as never });
}

async function until<T>(what: string, f: () => T | undefined, ms = 3_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Peer { s: Socket; w: FrameWriter; closed: Promise<void> }

async function peer(port: number, key = KEY): Promise<Peer> {
  const s = connect({ host: '127.0.0.1', port });
  s.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  const challenge = await new Promise<Buffer>((resolve) => {
    let got = Buffer.alloc(0);
    s.on('data', (c: Buffer) => {
      got = Buffer.concat([bytes(got), bytes(c)]);
      if (got.length >= 16) resolve(got.subarray(0, 16));
    });
  });
  return { s, w: new FrameWriter(key, challenge), closed };
}

const hello = (p: Peer, epoch = 1): void => void p.s.write(bytes(p.w.frame(FrameType.HELLO, encodeHello({ name: 'ra', epoch }))));

test('an idle connection made first does not keep the peer out; garbage on another is closed, counted, and the peer stays', async () => {
  const rx = receiver();
  await rx.start();
  try {
    const idle = await peer(rx.port);
    const p = await peer(rx.port);
    hello(p);
    await until('the peer connected', () => (rx.status().connected ? true : undefined));
    const forged = await peer(rx.port, randomBytes(32));
    hello(forged);
    await forged.closed;
    assert.equal(rx.counters.rejected.forged, 1);
    p.s.write(bytes(p.w.frame(FrameType.BULK_BEGIN)));
    p.s.write(bytes(p.w.frame(FrameType.BULK_END, encodeCount(0))));
    await until('in sync', () => (rx.status().bulkDone ? true : undefined));
    assert.equal(p.s.destroyed, false);
    assert.equal(idle.s.destroyed, false, 'the idle one waits for its HELLO timeout');
    idle.s.destroy();
  } finally {
    await rx.stop();
  }
});

test(`at most ${MAX_PENDING} unauthenticated connections; one without HELLO is closed after the timeout, counted malformed`, async () => {
  const rx = receiver(300);
  await rx.start();
  try {
    const idle = await Promise.all(Array.from({ length: MAX_PENDING }, () => peer(rx.port)));
    const extra = connect({ host: '127.0.0.1', port: rx.port });
    extra.on('error', () => undefined);
    await new Promise<void>((resolve) => extra.once('close', () => resolve()));
    assert.equal(rx.counters.rejected.malformed, 1, 'the one over the limit');
    await Promise.all(idle.map((p) => p.closed));
    assert.equal(rx.counters.rejected.malformed, 1 + MAX_PENDING, 'each idle one at its HELLO timeout');
    const p = await peer(rx.port);
    hello(p);
    await until('the peer connected', () => (rx.status().connected ? true : undefined));
  } finally {
    await rx.stop();
  }
});

test('the peer connecting again replaces its older connection: the old one closed, not in sync until the new bulk', async () => {
  const rx = receiver();
  await rx.start();
  const lost: string[] = [];
  rx.onLost((why) => lost.push(why));
  try {
    const a = await peer(rx.port);
    hello(a, 1);
    a.s.write(bytes(a.w.frame(FrameType.BULK_BEGIN)));
    a.s.write(bytes(a.w.frame(FrameType.BULK_END, encodeCount(0))));
    await until('in sync', () => (rx.status().bulkDone ? true : undefined));
    const b = await peer(rx.port);
    hello(b, 2);
    await a.closed;
    assert.deepEqual(lost, ['replaced by a new connection of the peer']);
    assert.deepEqual({ connected: rx.status().connected, bulkDone: rx.status().bulkDone }, { connected: true, bulkDone: false });
    b.s.write(bytes(b.w.frame(FrameType.BULK_BEGIN)));
    b.s.write(bytes(b.w.frame(FrameType.BULK_END, encodeCount(0))));
    await until('in sync again', () => (rx.status().bulkDone ? true : undefined));
    assert.equal(lost.length, 1, 'the old connection\'s close is not a second loss');
  } finally {
    await rx.stop();
  }
});
