// SPDX-License-Identifier: Apache-2.0
// The HA heartbeat: the design's byte layout, the round trip, and every rejection of the verifier.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { HaError } from '../../src/errors.js';
import {
  HEARTBEAT_MAX_BYTES, HeartbeatVerifier, decodeHeartbeat, encodeHeartbeat, type Heartbeat,
} from '../../src/ha/heartbeat.js';

const KEY = Buffer.from('k'.repeat(32));
const OTHER_KEY = Buffer.from('K'.repeat(32));
const NOW = 1_765_000_000_000;
const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const mac = (b: Buffer): Buffer => createHmac('sha256', u8(KEY)).update(u8(b)).digest();

const hb = (over: Partial<Heartbeat> = {}): Heartbeat => ({
  type: 'advert', name: 'r2', priority: 100, role: 'master', hold: false, inSync: true, bulkDone: false, path: 'public',
  epoch: NOW - 60_000, seq: 1, timeMs: NOW, holdMs: 0, syncLagMs: 3, ...over,
});
const verifier = () => new HeartbeatVerifier({ key: KEY, peers: ['r2'], maxSkewMs: 5000 });
const reason = (v: HeartbeatVerifier, data: Buffer, now = NOW) => {
  const r = v.verify(data, now);
  return r.ok ? 'ok' : r.reason;
};

test('the bytes are the design\'s layout, big-endian, HMAC-SHA256 of all before it', () => {
  const b = encodeHeartbeat(hb({ type: 'restarting', hold: true, inSync: false, bulkDone: true, epoch: 0x0102030405, seq: 7, timeMs: 0x0a0b0c0d0e, holdMs: 10000, syncLagMs: 0x01020304 }), KEY);
  assert.equal(b.length, 76);
  assert.equal(b.toString('ascii', 0, 4), 'XLHA');
  assert.deepEqual([...b.subarray(4, 12)], [1, 3, 2, 0x72, 0x32, 100, 1, 0b101]);
  assert.equal(b.readBigUInt64BE(12), 0x0102030405n);
  assert.equal(b.readBigUInt64BE(20), 7n);
  assert.equal(b.readBigUInt64BE(28), 0x0a0b0c0d0en);
  assert.equal(b.readUInt32BE(36), 10000);
  assert.equal(b.readUInt32BE(40), 0x01020304);
  assert.deepEqual(b.subarray(44), mac(b.subarray(0, 44)));
  const types = (['advert', 'goodbye', 'restarting', 'yield'] as const).map((type) => encodeHeartbeat(hb({ type }), KEY)[5]);
  assert.deepEqual(types, [1, 2, 3, 4]);
  const roles = (['backup', 'master', 'fault'] as const).map((role) => encodeHeartbeat(hb({ role }), KEY)[10]);
  assert.deepEqual(roles, [0, 1, 2]);
});

test('round trip of every type, role and flag', () => {
  for (const type of ['advert', 'goodbye', 'restarting', 'yield'] as const) {
    for (const role of ['backup', 'master', 'fault'] as const) {
      for (const flags of [0, 1, 2, 4, 7]) {
        const m = hb({ type, role, hold: (flags & 1) !== 0, inSync: (flags & 2) !== 0, bulkDone: (flags & 4) !== 0, name: 'a.B_c-9'.repeat(4).slice(0, 32), priority: 0, holdMs: 0xffffffff, epoch: Number.MAX_SAFE_INTEGER });
        const r = decodeHeartbeat(encodeHeartbeat(m, KEY), KEY);
        assert.deepEqual(r, { ok: true, message: m });
      }
    }
  }
  const v = verifier();
  const m = hb();
  assert.deepEqual(v.verify(encodeHeartbeat(m, KEY), NOW), { ok: true, message: m });
  assert.deepEqual(v.lastAccepted('r2'), { epoch: m.epoch, seq: 1 });
});

test('encode refuses what the wire cannot carry', () => {
  for (const bad of [{ name: '' }, { name: 'x'.repeat(33) }, { name: 'r 2' }, { priority: 255 }, { priority: 1.5 }, { seq: -1 }, { epoch: 2 ** 53 }, { holdMs: 2 ** 32 }, { role: 'boss' as never }, { type: 'hello' as never }]) {
    assert.throws(() => encodeHeartbeat(hb(bad), KEY), (e: unknown) => e instanceof HaError && e.code === 'E_HA_MESSAGE', JSON.stringify(bad));
  }
});

test('a bit flipped anywhere: forged (the framing bytes: malformed); never accepted', () => {
  const good = encodeHeartbeat(hb(), KEY);
  for (let i = 0; i < good.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const b = Buffer.from([...good]);
      b[i]! ^= 1 << bit;
      const framing = i < 5 || i === 6; // magic, version, name length
      assert.equal(reason(verifier(), b), framing ? 'malformed' : 'forged', `byte ${i} bit ${bit}`);
    }
  }
});

test('a wrong key: forged; another name with the right key: unknownPeer', () => {
  assert.equal(reason(verifier(), encodeHeartbeat(hb(), OTHER_KEY)), 'forged');
  assert.equal(reason(verifier(), encodeHeartbeat(hb({ name: 'r3' }), KEY)), 'unknownPeer');
  assert.equal(reason(verifier(), encodeHeartbeat(hb({ name: 'r3' }), OTHER_KEY)), 'forged');
  assert.equal(reason(verifier(), encodeHeartbeat(hb({ name: 'r1' }), KEY)), 'unknownPeer');
});

test('replays: the same message, an older seq, an old epoch; a new epoch is accepted', () => {
  const v = verifier();
  const epoch = NOW - 60_000;
  assert.equal(reason(v, encodeHeartbeat(hb({ epoch, seq: 5 }), KEY)), 'ok');
  assert.equal(reason(v, encodeHeartbeat(hb({ epoch, seq: 5 }), KEY)), 'replayed');
  assert.equal(reason(v, encodeHeartbeat(hb({ epoch, seq: 4 }), KEY)), 'replayed');
  assert.equal(reason(v, encodeHeartbeat(hb({ epoch, seq: 6 }), KEY)), 'ok');
  assert.equal(reason(v, encodeHeartbeat(hb({ epoch: epoch - 1, seq: 100 }), KEY)), 'replayed');
  assert.equal(reason(v, encodeHeartbeat(hb({ epoch: epoch + 1, seq: 1 }), KEY)), 'ok'); // the peer restarted
  assert.equal(reason(v, encodeHeartbeat(hb({ epoch, seq: 7 }), KEY)), 'replayed'); // its previous life
  assert.deepEqual(v.lastAccepted('r2'), { epoch: epoch + 1, seq: 1 });
  // A rejected message leaves the state alone: a forged high seq does not lock the peer out.
  assert.equal(reason(v, encodeHeartbeat(hb({ epoch: epoch + 9, seq: 1 }), OTHER_KEY)), 'forged');
  assert.equal(reason(v, encodeHeartbeat(hb({ epoch: epoch + 9, seq: 1, timeMs: NOW + 5001 }), KEY)), 'skewed');
  assert.equal(reason(v, encodeHeartbeat(hb({ epoch: epoch + 1, seq: 2 }), KEY)), 'ok');
  assert.deepEqual(v.rejected, { forged: 1, replayed: 4, unknownPeer: 0, skewed: 1, malformed: 0 });
});

test('skew both ways: within maxSkewMs accepted, beyond it skewed', () => {
  let seq = 1;
  const at = (timeMs: number) => reason(v, encodeHeartbeat(hb({ seq: seq++, timeMs }), KEY));
  const v = verifier();
  assert.equal(at(NOW - 5000), 'ok');
  assert.equal(at(NOW + 5000), 'ok');
  assert.equal(at(NOW - 5001), 'skewed');
  assert.equal(at(NOW + 5001), 'skewed');
  assert.equal(at(0), 'skewed');
});

test('truncated, over-long and garbage datagrams: malformed', () => {
  const good = encodeHeartbeat(hb(), KEY);
  const v = verifier();
  for (let n = 0; n < good.length; n++) assert.equal(reason(v, good.subarray(0, n)), 'malformed', `first ${n} bytes`);
  assert.equal(reason(v, Buffer.from([...good, 0])), 'malformed');
  assert.equal(reason(v, Buffer.alloc(HEARTBEAT_MAX_BYTES + 1)), 'malformed');
  assert.equal(reason(v, Buffer.alloc(100_000, 0x41)), 'malformed');
  assert.equal(reason(v, Buffer.from('GET / HTTP/1.1\r\nHost: r1\r\n\r\n'.repeat(3))), 'malformed');
  const other = Buffer.from([...good]);
  other[4] = 2; // a version this router does not speak
  assert.equal(reason(v, other), 'malformed');
  assert.equal(v.rejected.malformed, good.length + 5);
});

test('a signed message with a field out of range: malformed (a peer\'s bug, not an attack)', () => {
  const sign = (mutate: (b: Buffer) => void): Buffer => {
    const b = encodeHeartbeat(hb(), KEY);
    mutate(b);
    b.set(mac(b.subarray(0, b.length - 32)), b.length - 32);
    return b;
  };
  assert.equal(reason(verifier(), sign((b) => (b[5] = 5))), 'malformed'); // type
  assert.equal(reason(verifier(), sign((b) => (b[5] = 0))), 'malformed');
  assert.equal(reason(verifier(), sign((b) => (b[10] = 3))), 'malformed'); // role
  assert.equal(reason(verifier(), sign((b) => (b[9] = 255))), 'malformed'); // priority
  assert.equal(reason(verifier(), sign((b) => (b[11] = 16))), 'malformed'); // flags
  assert.equal(reason(verifier(), sign((b) => (b[7] = 0x20))), 'malformed'); // name charset
  assert.equal(reason(verifier(), sign((b) => b.writeBigUInt64BE(2n ** 53n, 20))), 'malformed'); // seq
  assert.equal(reason(verifier(), sign(() => undefined)), 'ok');
});

test('each path has its own sequence: the same beat on both is taken on both; a copy carried to the other path is refused', () => {
  const v = verifier();
  const pub = encodeHeartbeat(hb({ seq: 7, path: 'public' }), KEY);
  const priv = encodeHeartbeat(hb({ seq: 7, path: 'private' }), KEY);
  assert.equal(v.verify(pub, NOW, 'public').ok, true);
  assert.equal(v.verify(priv, NOW, 'private').ok, true);
  const carried = encodeHeartbeat(hb({ seq: 8, path: 'public' }), KEY);
  const r = v.verify(carried, NOW, 'private');
  assert.equal(r.ok ? 'ok' : r.reason, 'replayed');
  assert.equal(v.verify(carried, NOW, 'public').ok, true);
});
