// SPDX-License-Identifier: Apache-2.0
// The connection sync's wire (src/ha/sync-frames.ts, sync-records.ts): frames and RECORDS batches
// round-trip through any chunking, and every wrong frame is refused with its reason.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  FrameReader, FrameType, FrameWriter, MAX_FRAME_BYTES, SyncFrameError, bytes, concat,
  decodeAck, decodeCount, decodeHello, encodeAck, encodeCount, encodeHello, type Frame,
} from '../../src/ha/sync-frames.js';
import {
  RECORD_BYTES, SYNC_END, SYNC_NEW, SYNC_UPDATE, decodeRecords, encodeRecords, flowPartnerKey, type WireRecord,
} from '../../src/ha/sync-records.js';
import { K, V, partnerKeyRaw } from '../../src/ha/sync-raw.js';
import { maskAddress } from '../../src/ha/sync-install.js';
import {
  XlvsFlow as FlowCodec, XlvsFlowKey as KeyCodec, XLVS_DIR_FORWARD, XLVS_DIR_REPLY, XLVS_FLOW_F_DNAT, XLVS_FLOW_F_SNAT, XLVS_FLOW_TCP_EST, XLVS_METHOD_FULLNAT,
  type XlvsFlow, type XlvsFlowKey,
} from '../../src/gen/abi.js';

const KEY = randomBytes(32);
const CHALLENGE = randomBytes(16);

const copy = (b: Buffer): Buffer => Buffer.from(bytes(b));
const a4 = (s: string): Buffer => Buffer.from([...s.split('.').map(Number), ...new Array(12).fill(0)]);

function rejects(fn: () => unknown, reason: string): void {
  assert.throws(fn, (e: unknown) => e instanceof SyncFrameError && e.reason === reason && e.code === 'E_HA_MESSAGE', `refused as ${reason}`);
}

/** Every byte alone: frames must come out whatever the chunking. */
function bytewise(r: FrameReader, b: Buffer): Frame[] {
  const out: Frame[] = [];
  for (let i = 0; i < b.length; i++) out.push(...r.push(b.subarray(i, i + 1)));
  return out;
}

test('frames round-trip, whole, concatenated and byte by byte; seq from 1', () => {
  const w = new FrameWriter(KEY, CHALLENGE);
  const frames = [
    w.frame(FrameType.HELLO, encodeHello({ name: 'r1', epoch: 1_700_000_000_000 })),
    w.frame(FrameType.BULK_BEGIN),
    w.frame(FrameType.BULK_END, encodeCount(123456)),
    w.frame(FrameType.ACK, encodeAck({ seq: 3n, lagMs: 7, bulkDone: true })),
  ];
  for (const read of [(r: FrameReader) => frames.flatMap((f) => r.push(f)), (r: FrameReader) => r.push(concat(frames)), (r: FrameReader) => bytewise(r, concat(frames))]) {
    const r = new FrameReader(KEY, CHALLENGE);
    const got = read(r);
    r.end();
    assert.deepEqual(got.map((f) => [f.type, f.seq]), [[1, 1n], [2, 2n], [4, 3n], [5, 4n]]);
    assert.deepEqual(decodeHello(got[0]!.payload), { name: 'r1', epoch: 1_700_000_000_000 });
    assert.equal(got[1]!.payload.length, 0);
    assert.equal(decodeCount(got[2]!.payload), 123456);
    assert.deepEqual(decodeAck(got[3]!.payload), { seq: 3n, lagMs: 7, bulkDone: true });
  }
});

test('a flipped bit anywhere is forged (MAC, header or payload), as is a wrong key or another challenge', () => {
  const f = new FrameWriter(KEY, CHALLENGE).frame(FrameType.BULK_END, encodeCount(5));
  // The length field: a flip there changes the size, so it is read as another frame (or never completes).
  for (let bit = 32; bit < f.length * 8; bit++) {
    const g = copy(f);
    g[bit >> 3]! ^= 1 << (bit & 7);
    rejects(() => new FrameReader(KEY, CHALLENGE).push(g), 'forged');
  }
  rejects(() => new FrameReader(randomBytes(32), CHALLENGE).push(f), 'forged');
  rejects(() => new FrameReader(KEY, randomBytes(16)).push(f), 'forged');
  const longer = copy(f);
  longer.writeUInt32BE(9, 0); // one byte more claimed: the MAC is read a byte late
  rejects(() => new FrameReader(KEY, CHALLENGE).push(concat([longer, Buffer.alloc(1)])), 'forged');
});

test('seq: a frame again is replayed, a gap is malformed; nothing after the refusal is read', () => {
  const w = new FrameWriter(KEY, CHALLENGE);
  const one = w.frame(FrameType.HELLO, encodeHello({ name: 'r1', epoch: 1 }));
  const two = w.frame(FrameType.BULK_BEGIN);
  const three = w.frame(FrameType.BULK_END, encodeCount(0));
  const r = new FrameReader(KEY, CHALLENGE);
  assert.equal(r.push(one).length, 1);
  rejects(() => r.push(one), 'replayed');
  const g = new FrameReader(KEY, CHALLENGE);
  g.push(one);
  rejects(() => g.push(three), 'malformed');
  const s = new FrameReader(KEY, CHALLENGE);
  rejects(() => s.push(two), 'malformed'); // a first frame with seq 2
  const o = new FrameReader(KEY, CHALLENGE);
  rejects(() => o.push(concat([one, two, two, three])), 'replayed');
});

test('oversized (by its length field, before the bytes come), truncated, unknown type and bad payloads are malformed', () => {
  const head = Buffer.alloc(13);
  head.writeUInt32BE(MAX_FRAME_BYTES, 0);
  rejects(() => new FrameReader(KEY, CHALLENGE).push(head), 'malformed');
  assert.throws(() => new FrameWriter(KEY, CHALLENGE).frame(FrameType.RECORDS, Buffer.alloc(MAX_FRAME_BYTES)), RangeError);
  const ok = new FrameWriter(KEY, CHALLENGE).frame(FrameType.BULK_BEGIN);
  const r = new FrameReader(KEY, CHALLENGE);
  assert.deepEqual(r.push(ok.subarray(0, ok.length - 1)), []);
  rejects(() => r.end(), 'malformed');
  rejects(() => new FrameReader(KEY, CHALLENGE).push(new FrameWriter(KEY, CHALLENGE).frame(9 as FrameType)), 'malformed');
  rejects(() => decodeHello(Buffer.alloc(3)), 'malformed');
  rejects(() => decodeCount(Buffer.alloc(7)), 'malformed');
  rejects(() => decodeAck(Buffer.alloc(12)), 'malformed');
});

function entry(dir: number, flags: number, extra: Partial<XlvsFlow> = {}): XlvsFlow {
  return {
    expires_ns: 99n, nat_src: a4('10.77.0.1'), nat_dst: a4('10.77.0.12'), nat_sport: 50001, nat_dport: 8080, state: XLVS_FLOW_TCP_EST,
    real_id: 17, svc_id: 3, dir, flags, method: XLVS_METHOD_FULLNAT, tcp: 1,
    nh_ifindex: 4, nh_expires_ns: 5n, nh_len: 1500, nh_dmac: Buffer.from('020000000001', 'hex'), nh_smac: Buffer.from('020000000002', 'hex'),
    sync_s: 0, seq_next: 1234, ack: 5678, ...extra,
  };
}

test('RECORDS: identities, remaining time and raw entries round-trip; slots, deadline and next hop are zeroed on the wire', () => {
  const fk: XlvsFlowKey = { src: a4('203.0.113.2'), dst: a4('203.0.113.100'), sport: 40000, dport: 80, proto: 6, family: 4 };
  const fv = entry(XLVS_DIR_FORWARD, XLVS_FLOW_F_SNAT | XLVS_FLOW_F_DNAT);
  const rk = flowPartnerKey(fk, fv);
  assert.deepEqual(rk, { src: a4('10.77.0.12'), sport: 8080, dst: a4('10.77.0.1'), dport: 50001, proto: 6, family: 4 });
  const rv = entry(XLVS_DIR_REPLY, XLVS_FLOW_F_SNAT | XLVS_FLOW_F_DNAT, { nat_src: a4('203.0.113.100'), nat_sport: 80, nat_dst: a4('203.0.113.2'), nat_dport: 40000 });
  assert.deepEqual(flowPartnerKey(rk, rv), fk, 'the partner of the partner is the entry');
  const zeroed = (f: XlvsFlow): XlvsFlow => ({ ...f, expires_ns: 0n, real_id: 0, svc_id: 0, nh_ifindex: 0, nh_expires_ns: 0n, nh_len: 0, nh_dmac: Buffer.alloc(6), nh_smac: Buffer.alloc(6) });
  const records: WireRecord[] = [
    { kind: SYNC_NEW, service: 'tcp/203.0.113.100:80', real: '10.77.0.12:8080', remainingNs: 900_000_000_000n, fk, fv, rk, rv },
    { kind: SYNC_UPDATE, service: 'tcp/203.0.113.100:80', real: '10.77.0.12:8080', remainingNs: 5n, fk, fv, rk, rv },
    { kind: SYNC_UPDATE, service: 'tcp/[2001:db8::1]:80', real: '[2001:db8::12]:8080', remainingNs: 0n, fk, fv, rk, rv },
    { kind: SYNC_END, remainingNs: 0n, fk, fv: zeroed(entry(0, 0)), rk, rv: zeroed(entry(0, 0)) },
  ];
  const p = encodeRecords({ sentAt: 1_765_000_000_123, records });
  // Two identity pairs, each named once.
  const table = ['tcp/203.0.113.100:80', '10.77.0.12:8080', 'tcp/[2001:db8::1]:80', '[2001:db8::12]:8080'].reduce((n, id) => n + 2 + Buffer.byteLength(id), 0);
  assert.equal(p.length, 10 + table + 4 + 4 * RECORD_BYTES);
  const got = decodeRecords(p);
  assert.equal(got.sentAt, 1_765_000_000_123);
  assert.deepEqual(got.records, records.map((r) => ({ ...r, fv: zeroed(r.fv), rv: zeroed(r.rv) })));
  // Through a frame too.
  const f = new FrameReader(KEY, CHALLENGE).push(new FrameWriter(KEY, CHALLENGE).frame(FrameType.RECORDS, p));
  assert.deepEqual(decodeRecords(f[0]!.payload), got);
});

test('RECORDS: a batch that does not read is malformed', () => {
  const fk: XlvsFlowKey = { src: a4('203.0.113.2'), dst: a4('203.0.113.100'), sport: 1, dport: 80, proto: 6, family: 4 };
  const fv = entry(XLVS_DIR_FORWARD, XLVS_FLOW_F_DNAT);
  const p = encodeRecords({ sentAt: 1, records: [{ kind: SYNC_NEW, service: 's', real: 'r', remainingNs: 1n, fk, fv, rk: flowPartnerKey(fk, fv), rv: fv }] });
  rejects(() => decodeRecords(p.subarray(0, p.length - 1)), 'malformed');
  rejects(() => decodeRecords(concat([p, Buffer.alloc(1)])), 'malformed');
  rejects(() => decodeRecords(Buffer.alloc(5)), 'malformed');
  const recAt = p.length - RECORD_BYTES;
  const badKind = copy(p);
  badKind[recAt] = 9;
  rejects(() => decodeRecords(badKind), 'malformed');
  const badIdent = copy(p);
  badIdent.writeUInt16BE(1, recAt + 1);
  rejects(() => decodeRecords(badIdent), 'malformed');
  const noIdent = copy(p);
  noIdent.writeUInt16BE(0xffff, recAt + 1);
  rejects(() => decodeRecords(noIdent), 'malformed'); // only END may name no identity
  const lying = copy(p);
  lying.writeUInt16BE(2, 8); // two pairs claimed, one there
  rejects(() => decodeRecords(lying), 'malformed');
});

test('the raw partner key is flow.h\'s (and flowPartnerKey\'s) for every rewrite; client addresses masked as addr_mask', () => {
  const fk: XlvsFlowKey = { src: a4('203.0.113.2'), dst: a4('203.0.113.100'), sport: 40000, dport: 80, proto: 6, family: 4 };
  for (const flags of [0, XLVS_FLOW_F_SNAT, XLVS_FLOW_F_DNAT, XLVS_FLOW_F_SNAT | XLVS_FLOW_F_DNAT]) {
    const fv = entry(XLVS_DIR_FORWARD, flags);
    const k = Buffer.alloc(K);
    const v = Buffer.alloc(V);
    KeyCodec.encode(fk, k, 0);
    FlowCodec.encode(fv, v, 0);
    const out = Buffer.alloc(K + 3, 0xee);
    partnerKeyRaw(k, 0, v, 0, out, 3);
    assert.deepEqual(KeyCodec.decode(out, 3), flowPartnerKey(fk, fv), `flags ${flags}`);
  }
  assert.deepEqual([...maskAddress(a4('203.0.113.77'), 24, 4)].slice(0, 4), [203, 0, 113, 0]);
  assert.deepEqual([...maskAddress(a4('203.0.113.77'), 20, 4)].slice(0, 4), [203, 0, 112, 0]);
  assert.deepEqual([...maskAddress(a4('203.0.113.77'), 0, 4)], new Array(16).fill(0));
  const v6 = Buffer.from('20010db8000100020003000400050006', 'hex');
  assert.equal(maskAddress(v6, 64, 6).toString('hex'), '20010db8000100020000000000000000');
  assert.equal(maskAddress(v6, 128, 6).toString('hex'), v6.toString('hex'));
  assert.equal(maskAddress(v6, 33, 6).toString('hex'), '20010db8000000000000000000000000');
});
