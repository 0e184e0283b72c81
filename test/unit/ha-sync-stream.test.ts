// SPDX-License-Identifier: Apache-2.0
// The streamed sync's raw hot path (src/ha/sync-stream.ts): a RECORDS payload built from ring
// records is the one encodeRawRecords makes, reads back with parseRecords as decodeRawRecords
// reads it, and refuses what decodeRawRecords refuses; the slot cache follows a new SlotIndex.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SyncFrameError, bytes, concat } from '../../src/ha/sync-frames.js';
import { RECORD_BYTES, SYNC_END, SYNC_NEW, SYNC_UPDATE, decodeRawRecords, encodeRawRecords, parseRecords, type RawRecord } from '../../src/ha/sync-records.js';
import { IdentCache, REC, RecordsBuilder, RecordsQueue } from '../../src/ha/sync-stream.js';
import { FLOW, FV, PAIR_BYTES, RV, readU64BE, readU64LE, writeU64BE, writeU64LE } from '../../src/ha/sync-raw.js';
import type { SlotIndex } from '../../src/dataplane/slots.js';

const index = (names: Record<number, [string, string]>): SlotIndex =>
  ({ realAt: (slot: number) => (names[slot] ? { service: names[slot]![0], real: names[slot]![1] } : undefined) }) as unknown as SlotIndex;

/** A ring record (struct xlvs_sync_rec) of random entries: kind, real slot, deadline. */
function ringRecord(kind: number, slot: number, expires: bigint): Buffer {
  const b = Buffer.alloc(REC.size);
  b.set(randomBytes(PAIR_BYTES), REC.pair);
  b.writeUInt32LE(kind, REC.kind);
  b.writeUInt32LE(slot, REC.pair + FV + FLOW.realId);
  b.writeBigUInt64LE(expires, REC.pair + FV + FLOW.expires);
  return b;
}

test('a payload built from ring records is the one encodeRawRecords makes', () => {
  let slots = index({ 3: ['web', '10.0.0.1:80'], 7: ['dns', '10.0.0.2:53'] });
  const ids = new IdentCache(() => slots);
  const now = 5_000_000_000;
  const recs: Array<[number, number, bigint]> = [[SYNC_NEW, 3, 65_000_000_000n], [SYNC_UPDATE, 7, 9_000_000_000n], [SYNC_END, 0, 0n], [SYNC_NEW, 3, 1n], [SYNC_NEW, 7, 6_000_000_000n]];
  const b = new RecordsBuilder();
  const want: RawRecord[] = [];
  for (const [kind, slot, expires] of recs) {
    const r = ringRecord(kind, slot, expires);
    const id = kind === SYNC_END ? undefined : slots.realAt(slot)!;
    b.add(r, 0, kind, kind === SYNC_END ? undefined : ids.of(slot), Number(expires) - now);
    want.push({ kind: kind as RawRecord['kind'], ...(id ? { service: id.service, real: id.real } : {}), remainingNs: kind === SYNC_END ? 0n : expires - BigInt(now), pair: r.subarray(REC.pair) });
  }
  const p = b.finish(1234);
  assert.deepEqual(p, encodeRawRecords(1234, want));
  assert.equal(b.n, 0);
  const parsed = parseRecords(p);
  const back = decodeRawRecords(p);
  assert.equal(parsed.count, back.records.length);
  assert.equal(parsed.sentAt, 1234);
  assert.equal(p.length - parsed.at, parsed.count * RECORD_BYTES);
  // The router's own fields are zero on the wire.
  for (const r of back.records) for (const vo of [FV, RV]) assert.equal(r.pair.readUInt32LE(vo + FLOW.realId) + r.pair.readUInt32LE(vo + FLOW.svcId), 0);
  // A new SlotIndex: slot 3 now names another real, slot 9 none.
  slots = index({ 3: ['web', '10.0.0.9:80'] });
  assert.equal(ids.of(3)!.toString('latin1').includes('10.0.0.9:80'), true);
  assert.equal(ids.of(9), undefined);
});

test('parseRecords refuses what decodeRawRecords refuses', () => {
  const ids = new IdentCache(() => index({ 1: ['s', 'r'] }));
  const b = new RecordsBuilder();
  b.add(ringRecord(SYNC_NEW, 1, 10n), 0, SYNC_NEW, ids.of(1), 10);
  const good = b.finish(1);
  const at = parseRecords(good).at;
  const bad = [good.subarray(0, good.length - 1), concat([good, Buffer.alloc(1)])];
  for (const [off, v] of [[at, 9], [at + 1, 1], [at + 2, 5]] as const) {
    const x = Buffer.from(bytes(good));
    x[off] = v;
    bad.push(x);
  }
  const noIdent = Buffer.from(bytes(good));
  noIdent.writeUInt16BE(0xffff, at + 1);
  bad.push(noIdent);
  for (const p of bad) {
    assert.throws(() => decodeRawRecords(p), SyncFrameError);
    assert.throws(() => parseRecords(p), (e: unknown) => e instanceof SyncFrameError && e.reason === 'malformed');
  }
});

test('u64 halves: exact below 2^53, clamped at 0 and 2^64', () => {
  const b = Buffer.alloc(8);
  for (const v of [0, 1, 2 ** 32 - 1, 2 ** 32, 123_456_789_012_345, 2 ** 53 - 1]) {
    writeU64LE(b, 0, v);
    assert.equal(b.readBigUInt64LE(0), BigInt(v));
    assert.equal(readU64LE(b, 0), v);
    writeU64BE(b, 0, v);
    assert.equal(b.readBigUInt64BE(0), BigInt(v));
    assert.equal(readU64BE(b, 0), v);
  }
  writeU64BE(b, 0, -5);
  assert.equal(b.readBigUInt64BE(0), 0n);
  writeU64LE(b, 0, 2 ** 70);
  assert.equal(b.readBigUInt64LE(0), 2n ** 64n - 1n);
});

test('RecordsQueue: payloads of BATCH_RECORDS, taken in order, counted, dropped whole', () => {
  const q = new RecordsQueue();
  const ids = new IdentCache(() => index({ 1: ['s', 'r'] }));
  const r = ringRecord(SYNC_NEW, 1, 10n);
  for (let i = 0; i < 1100; i++) q.add(r, 0, SYNC_NEW, ids.of(1), 10);
  assert.equal(q.records, 1100);
  assert.equal(q.hasFull, true);
  assert.equal(parseRecords(q.take()!.payload).count, 512);
  q.seal();
  assert.deepEqual([q.take()!.n, q.take()!.n, q.take()], [512, 76, undefined]);
  assert.equal(q.records, 0);
  q.add(r, 0, SYNC_NEW, ids.of(1), 10);
  assert.equal(q.drop(), 1);
  assert.equal(q.records, 0);
});
