// SPDX-License-Identifier: Apache-2.0
// The ring-buffer consumer (src/kernel/ringbuf.ts) on a real BPF_MAP_TYPE_RINGBUF: records are
// written by test/bpf/ringbuf_test.bpf.c, one per BPF_PROG_TEST_RUN, and read back through the
// mapping. The ring is the smallest there is (one page), so a few dozen records fill it and a
// few thousand go round it many times.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BpfObject } from '../../src/kernel/object.js';
import { u32, u64 } from '../../src/kernel/codec.js';
import type { BpfMap } from '../../src/kernel/map.js';
import { XdpTestRunner, XDP, verdictName } from '../../src/kernel/test-run.js';
import { RingBuf } from '../../src/kernel/ringbuf.js';
import { RingBufPoller } from '../../src/kernel/ringbuf-poller.js';
import { recordSpan } from '../../src/kernel/ringbuf-records.js';
import { BpfError, InvalidArgumentError, RingBufClosedError, RingBufTypeError } from '../../src/errors.js';
import { fromRoot } from '../../src/paths.js';

const OBJECT = fromRoot('build/ringbuf_test.bpf.o');
// As in ringbuf_test.bpf.c.
const SUBMIT = 1;
const DISCARD = 2;
const PAYLOAD_OFF = 8;
const PAYLOAD_MAX = 200;
const RING_BYTES = 4096;
const DISCARD_BYTES = 40;
const REC_HEAD = 8; // struct rb_test_rec: seq, len
const COUNT = { submitted: 0, discarded: 1, full: 2 } as const;

interface Producer {
  obj: BpfObject;
  ring: RingBuf;
  counts: BpfMap<number, bigint>;
  /** Runs the program once; returns its verdict. */
  run(action: number, payload?: Buffer): number;
  close(): void;
}

/** A freshly loaded producer (its own, empty ring) and a consumer of its ring. */
function producer(): Producer {
  const obj = BpfObject.open(OBJECT, { pinRoot: '/sys/fs/bpf' }); // nothing of it is pinned
  obj.load();
  const runner = new XdpTestRunner(obj.programFd('rb_test_produce'));
  const ring = RingBuf.open(obj.mapFd('rb_test_ring'));
  return {
    obj,
    ring,
    counts: obj.map('rb_test_counts', u32, u64),
    run(action, payload = Buffer.alloc(0)) {
      const f = Buffer.alloc(Math.max(14, PAYLOAD_OFF + payload.length));
      f[0] = action;
      f.writeUInt16LE(payload.length, 2);
      f.set(payload, PAYLOAD_OFF);
      return runner.run(f);
    },
    close() {
      ring.close();
      obj.close();
    },
  };
}

/** Run i's payload: 0..PAYLOAD_MAX bytes (a spread of lengths), each byte a function of i. */
function payloadOf(i: number): Buffer {
  const len = (i * 53) % (PAYLOAD_MAX + 1);
  return Buffer.from(Array.from({ length: len }, (_, j) => (i * 7 + j * 13) & 0xff));
}

interface Rec {
  seq: number;
  len: number;
  payload: Buffer;
}

/** Parses (and copies: the view dies with the call) one record of the producer. */
function parse(view: Buffer, len: number): Rec {
  assert.equal(view.length, len);
  const payload = Buffer.alloc(len - REC_HEAD);
  payload.set(view.subarray(REC_HEAD));
  return { seq: view.readUInt32LE(0), len: view.readUInt32LE(4), payload };
}

const count = (p: Producer, which: number): number => Number(p.counts.lookup(which));

test('records come out once each, in order, with their bytes, across many wrap-arounds; discarded ones are skipped', () => {
  const p = producer();
  try {
    const N = 3000;
    const got: Rec[] = [];
    let discards = 0;
    let bytes = 0; // the consumer position the records add up to
    let wrapped = 0; // records that run past the end of the data area
    const place = (span: number): void => {
      if ((bytes % RING_BYTES) + span > RING_BYTES) wrapped++;
      bytes += span;
    };
    let calls = 0;
    for (let i = 0, run = 0; i < N; run++) {
      // A burst of 1..15 runs (15 of the largest records fit the ring), every 7th a discard.
      const burst = 1 + ((run * 11) % 15);
      for (let b = 0; b < burst && i < N; b++) {
        if ((i + b + run) % 7 === 0) {
          assert.equal(p.run(DISCARD), XDP.PASS);
          discards++;
          place(recordSpan(DISCARD_BYTES));
        }
        const payload = payloadOf(i);
        const v = p.run(SUBMIT, payload);
        assert.equal(v, XDP.PASS, `run ${i}: ${verdictName(v)}`);
        place(recordSpan(REC_HEAD + payload.length));
        i++;
      }
      // Drained by calls of 1..9 records at most.
      for (;;) {
        const max = 1 + (calls++ % 9);
        const n = p.ring.consume((view, len) => void got.push(parse(view, len)), max);
        assert.ok(n <= max, `consume(max ${max}) returned ${n}`);
        if (n === 0) break;
      }
    }
    assert.equal(got.length, N);
    got.forEach((r, k) => {
      assert.equal(r.seq, k, `record ${k} has seq ${r.seq}`);
      const want = payloadOf(k);
      assert.equal(r.len, want.length, `record ${k}'s length`);
      assert.equal(r.payload.toString('hex'), want.toString('hex'), `record ${k}'s bytes`);
    });
    assert.equal(count(p, COUNT.submitted), N);
    assert.equal(count(p, COUNT.discarded), discards);
    assert.equal(count(p, COUNT.full), 0);
    assert.equal(p.ring.delivered, N);
    assert.equal(p.ring.discarded, discards, 'every discarded record was seen and skipped');
    // Every byte written was consumed, and the records crossed the end of the ring many times.
    assert.equal(p.ring.consumerPosition(), BigInt(bytes));
    assert.equal(p.ring.pending(), 0);
    assert.ok(bytes > 50 * RING_BYTES, `${bytes} bytes went round a ${RING_BYTES}-byte ring`);
    assert.ok(wrapped > 50, `${wrapped} records ran past the end of the data area`);
  } finally {
    p.close();
  }
});

test('a full ring refuses the producer (counted) and keeps every record it holds until consumed', () => {
  const p = producer();
  try {
    const payload = (i: number): Buffer => Buffer.alloc(100, i);
    const span = recordSpan(REC_HEAD + 100);
    const fit = Math.floor(RING_BYTES / span);
    let accepted = 0;
    while (p.run(SUBMIT, payload(accepted)) === XDP.PASS) accepted++;
    assert.equal(accepted, fit, `${fit} records of ${span} bytes fit ${RING_BYTES} bytes`);
    for (let k = 0; k < 5; k++) assert.equal(p.run(SUBMIT, payload(99)), XDP.DROP, 'still full');
    assert.equal(p.run(DISCARD), XDP.DROP, 'a reservation is refused too');
    assert.equal(count(p, COUNT.full), 7);
    assert.equal(count(p, COUNT.submitted), fit);
    assert.equal(p.ring.pending(), fit * span);

    const got: Rec[] = [];
    assert.equal(p.ring.consume((v, len) => void got.push(parse(v, len))), fit);
    assert.deepEqual(got.map((r) => r.seq), Array.from({ length: fit }, (_, k) => k));
    got.forEach((r, k) => assert.equal(r.payload.toString('hex'), payload(k).toString('hex'), `record ${k} intact`));

    // Room again: the next record is the next seq.
    assert.equal(p.run(SUBMIT, payload(7)), XDP.PASS);
    got.length = 0;
    assert.equal(p.ring.consume((v, len) => void got.push(parse(v, len))), 1);
    assert.equal(got[0]!.seq, fit);
  } finally {
    p.close();
  }
});

test('a handler that throws has its record consumed; the next call goes on with the next one', () => {
  const p = producer();
  try {
    for (let i = 0; i < 3; i++) assert.equal(p.run(SUBMIT, payloadOf(i)), XDP.PASS);
    const boom = new Error('handler failed');
    assert.throws(() => p.ring.consume((v, len) => {
      if (parse(v, len).seq === 1) throw boom;
    }), (e: unknown) => e === boom);
    const rest: number[] = [];
    assert.equal(p.ring.consume((v, len) => void rest.push(parse(v, len).seq)), 1);
    assert.deepEqual(rest, [2]);
  } finally {
    p.close();
  }
});

test('the poller drains the ring from the event loop, a batch per turn, and stops', async () => {
  const p = producer();
  const seqs: number[] = [];
  const errors: unknown[] = [];
  const poller = new RingBufPoller(p.ring, (v, len) => void seqs.push(parse(v, len).seq), { intervalMs: 5, batch: 4, ref: true, onError: (e) => errors.push(e) });
  try {
    for (let i = 0; i < 60; i++) {
      assert.equal(p.run(SUBMIT, Buffer.alloc(20, i)), XDP.PASS);
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 2));
    }
    const deadline = Date.now() + 5000;
    while (seqs.length < 60 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(seqs, Array.from({ length: 60 }, (_, k) => k));
    poller.stop();
    assert.equal(p.run(SUBMIT, Buffer.alloc(20)), XDP.PASS);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(seqs.length, 60, 'nothing is taken once stopped');
    assert.deepEqual(errors, []);
  } finally {
    poller.stop();
    p.close();
  }
});

test('bad input is refused, naming what was wrong', () => {
  const p = producer();
  try {
    const countsFd = p.obj.mapFd('rb_test_counts');
    assert.throws(() => RingBuf.open(countsFd), (e: unknown) =>
      e instanceof RingBufTypeError && e.code === 'E_RINGBUF_TYPE' && e.fd === countsFd && e.mapName === 'rb_test_counts' && e.mapType === 2 &&
      /rb_test_counts.*map type 2, not BPF_MAP_TYPE_RINGBUF/.test(e.message));
    assert.throws(() => RingBuf.open(-1), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'fd' && e.value === -1);
    assert.throws(() => RingBuf.open(1 << 20), (e: unknown) => e instanceof BpfError && /map info of fd 1048576/.test(e.message));
    assert.throws(() => p.ring.consume(() => {}, 0), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'max' && e.value === 0);
    assert.throws(() => new RingBufPoller(p.ring, () => {}, { intervalMs: 0, onError: () => {} }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'intervalMs');
    const ring = RingBuf.open(p.obj.mapFd('rb_test_ring'));
    ring.close();
    assert.throws(() => ring.consume(() => {}), (e: unknown) => e instanceof RingBufClosedError && e.code === 'E_RINGBUF_CLOSED' && e.ring === 'rb_test_ring');
    ring.close(); // twice is harmless
  } finally {
    p.close();
  }
});
