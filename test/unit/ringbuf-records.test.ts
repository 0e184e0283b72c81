// SPDX-License-Identifier: Apache-2.0
// The ring-buffer walk (src/kernel/ringbuf-records.ts) over plain memory laid out as the kernel
// lays out a ring, for what a test run cannot make happen: a record still being written (BUSY),
// a header that lies. test/integration/ringbuf.test.ts runs it on a real ring.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ, recordSpan, walkRecords, walkRecordsRaw, type RecordHandler, type RingMemory,
} from '../../src/kernel/ringbuf-records.js';
import { InvalidArgumentError, RingBufCorruptError } from '../../src/errors.js';

const SIZE = 64;

/** A ring of SIZE bytes: `ring` is the physical data; sync() shows it twice, as the kernel maps it. */
function fakeRing(): RingMemory & { ring: Uint8Array; sync(): void; write(bytes: number[], flags?: number): bigint; setFlags(pos: bigint, flags: number): void } {
  const data = new ArrayBuffer(2 * SIZE);
  const ring = new Uint8Array(SIZE);
  const consumerPos = new BigUint64Array(1);
  const producerPos = new BigUint64Array(1);
  const view = new Uint8Array(data);
  const m = {
    name: 'fake', consumerPos, producerPos, data, words: new Uint32Array(data), mask: BigInt(SIZE - 1), ring,
    sync() {
      view.set(ring, 0);
      view.set(ring, SIZE);
    },
    /** Appends a record as a producer would; returns where it starts. */
    write(bytes: number[], flags = 0): bigint {
      const at = producerPos[0]!;
      const put = (i: number, b: number): void => void (ring[Number((at + BigInt(i)) & m.mask)] = b);
      const head = (bytes.length | flags) >>> 0;
      for (let i = 0; i < 4; i++) put(i, (head >>> (8 * i)) & 0xff);
      bytes.forEach((b, i) => put(BPF_RINGBUF_HDR_SZ + i, b));
      producerPos[0] = at + BigInt(recordSpan(bytes.length));
      m.sync();
      return at;
    },
    setFlags(pos: bigint, flags: number) {
      const o = Number(pos & m.mask);
      const len = ring[o]! | (ring[o + 1]! << 8) | (ring[o + 2]! << 16) | ((ring[o + 3]! & 0x3f) << 24);
      const head = (len | flags) >>> 0;
      for (let i = 0; i < 4; i++) ring[o + i] = (head >>> (8 * i)) & 0xff;
      m.sync();
    },
  };
  return m;
}

test('recordSpan: header and bytes, rounded up to 8; flag bits are not length', () => {
  assert.equal(recordSpan(0), 8);
  assert.equal(recordSpan(1), 16);
  assert.equal(recordSpan(8), 16);
  assert.equal(recordSpan(9), 24);
  assert.equal(recordSpan(5 | BPF_RINGBUF_DISCARD_BIT), 16);
});

type Walk = typeof walkRecords;
/** walkRecordsRaw behind walkRecords' signature: the same records, positions and errors. */
const walkRaw: Walk = (m, h: RecordHandler, max) => walkRecordsRaw(m, Buffer.from(m.data), (area, off, len) => h(area.subarray(off, off + len), len), max);

for (const [how, walk] of [['', walkRecords], [' (raw walk)', walkRaw]] as Array<[string, Walk]>) {
  const collect = (m: RingMemory, max = 100): { recs: number[][]; r: ReturnType<typeof walkRecords> } => {
    const recs: number[][] = [];
    const r = walk(m, (v, len) => {
      assert.equal(v.length, len);
      recs.push([...v]);
    }, max);
    return { recs, r };
  };

  test(`records come in order, discarded ones skipped, the consumer position after each${how}`, () => {
    const m = fakeRing();
    m.write([1, 2, 3]);
    m.write([9, 9], BPF_RINGBUF_DISCARD_BIT);
    m.write([4]);
    const { recs, r } = collect(m);
    assert.deepEqual(recs, [[1, 2, 3], [4]]);
    assert.deepEqual(r, { delivered: 2, discarded: 1, busy: false });
    assert.equal(m.consumerPos[0], 16n + 16n + 16n);
    assert.deepEqual(collect(m).r, { delivered: 0, discarded: 0, busy: false });
  });

  test(`a record that runs past the end of the data area is read whole (the area is mapped twice)${how}`, () => {
    const m = fakeRing();
    m.write(Array(40).fill(0)); // 48 bytes: the next starts at 48
    collect(m);
    const bytes = Array.from({ length: 20 }, (_, i) => i + 1); // 28 bytes from 48: 12 past the end
    assert.equal(m.write(bytes), 48n);
    assert.deepEqual(collect(m).recs, [bytes]);
    assert.equal(m.consumerPos[0], 48n + 32n);
  });

  test(`a busy record stops the walk; it and what follows come once it is committed${how}`, () => {
    const m = fakeRing();
    m.write([1]);
    const busy = m.write([2], BPF_RINGBUF_BUSY_BIT);
    m.write([3]);
    let c = collect(m);
    assert.deepEqual(c.recs, [[1]]);
    assert.equal(c.r.busy, true);
    assert.equal(m.consumerPos[0], busy, 'stopped before the busy record');
    m.setFlags(busy, 0);
    c = collect(m);
    assert.deepEqual(c.recs, [[2], [3]]);
    assert.equal(c.r.busy, false);
  });

  test(`max bounds the records handed over per call; discarded ones do not count${how}`, () => {
    const m = fakeRing();
    for (let i = 0; i < 4; i++) m.write([i], i % 2 ? BPF_RINGBUF_DISCARD_BIT : 0); // the 64 bytes, full
    let c = collect(m, 1);
    assert.deepEqual([c.recs, c.r.discarded], [[[0]], 0]);
    c = collect(m, 1);
    assert.deepEqual([c.recs, c.r.discarded], [[[2]], 1]);
    c = collect(m, 1);
    assert.deepEqual([c.recs, c.r.discarded], [[], 1]);
    assert.equal(m.consumerPos[0], 64n);
    assert.throws(() => walk(m, () => {}, 0), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'max');
    assert.throws(() => walk(m, () => {}, 1.5), (e: unknown) => e instanceof InvalidArgumentError && e.value === 1.5);
  });

  test(`a handler that throws: its record is consumed, the error goes up, the rest stays${how}`, () => {
    const m = fakeRing();
    m.write([1]);
    m.write([2]);
    assert.throws(() => walk(m, () => {
      throw new Error('no');
    }, 10), /no/);
    assert.equal(m.consumerPos[0], 16n);
    assert.deepEqual(collect(m).recs, [[2]]);
  });

  test(`a header longer than what was written is refused as corrupt, nothing consumed${how}`, () => {
    const m = fakeRing();
    m.write([1, 2]);
    m.ring[0] = 60; // claims 60 bytes: 72 with the header, 16 written
    m.sync();
    assert.throws(() => collect(m), (e: unknown) => e instanceof RingBufCorruptError && e.code === 'E_RINGBUF_CORRUPT' && e.position === 0n && e.available === 16);
    assert.equal(m.consumerPos[0], 0n);
  });
}
