// SPDX-License-Identifier: Apache-2.0
// The consumer's walk over a BPF ring buffer's records, apart from the mapping (ringbuf.ts) so
// that the protocol is plain code over memory. The kernel's side (kernel/bpf/ringbuf.c):
//
//  - Two positions, each a u64 on its own page, count bytes ever written and ever consumed.
//    A record starts at (position & mask) of the data area; the data area is mapped twice in a
//    row, so a record that runs past the end is contiguous in the mapping and never wraps.
//  - A record is an 8-byte header then its bytes, padded to 8. The header's first u32 is the
//    length, with BPF_RINGBUF_BUSY_BIT while the producer still writes it (reserved, not yet
//    submitted) and BPF_RINGBUF_DISCARD_BIT when it gave it up; the second u32 is the kernel's.
//  - The producer advances the producer position when it reserves, and commits by clearing
//    BUSY. It never overwrites past the consumer position: a full ring refuses the reservation.
//
// Ordering, as libbpf's ring_buffer__consume does it: load the producer position with acquire
// (nothing of the data is read before it), load each header with acquire (the bytes after it are
// those the producer committed), store the consumer position with release after a record is
// read (the producer reuses the space only after that). Atomics give those orderings: their
// loads and stores are sequentially consistent, which is stronger, and neither the JIT nor the
// CPU moves plain reads across them.

import { InvalidArgumentError, RingBufCorruptError } from '../errors.js';

/** enum of linux/bpf.h: the header's flag bits and its size. */
export const BPF_RINGBUF_BUSY_BIT = 0x80000000;
export const BPF_RINGBUF_DISCARD_BIT = 0x40000000;
export const BPF_RINGBUF_HDR_SZ = 8;
const LEN_MASK = 0x3fffffff;

/** The ring's memory as the consumer sees it (ringbuf.ts maps it; a unit test may build one). */
export interface RingMemory {
  /** Names the ring in errors. */
  readonly name: string;
  /** [0]: the consumer position, the one word the consumer writes. */
  readonly consumerPos: BigUint64Array;
  /** [0]: the producer position. */
  readonly producerPos: BigUint64Array;
  /** The data area, twice its size (mapped twice). */
  readonly data: ArrayBuffer;
  /** The same, as u32 words: the headers are loaded through it. */
  readonly words: Uint32Array;
  /** The data area's size (a power of two), less one. */
  readonly mask: bigint;
}

/**
 * Called once per record with a view of its bytes in the ring: valid only during the call (the
 * producer may reuse the space once it returns), so a handler copies what it keeps.
 */
export type RecordHandler = (record: Buffer, len: number) => void;

export interface WalkResult {
  /** Records handed to the handler. */
  delivered: number;
  /** Discarded records skipped. */
  discarded: number;
  /** True when the walk stopped at a record the producer still writes. */
  busy: boolean;
}

/** Bytes a record of `len` bytes takes in the ring: its header and its bytes, rounded up to 8. */
export function recordSpan(len: number): number {
  return (((len & LEN_MASK) + BPF_RINGBUF_HDR_SZ + 7) & ~7) >>> 0;
}

/**
 * Hands the committed records to `handler` in order, at most `max` of them, among those written
 * when the walk began (so a call is bounded even while the producer writes). Skips discarded
 * records, stops at a busy one. Each record is consumed (the consumer position moves past it)
 * before the next; a handler that throws has its record consumed too, and the walk stops: a
 * record a handler cannot take is not offered forever.
 */
export function walkRecords(m: RingMemory, handler: RecordHandler, max: number): WalkResult {
  if (!Number.isInteger(max) || max < 1) throw new InvalidArgumentError('max', max, 'must be an integer >= 1');
  const out: WalkResult = { delivered: 0, discarded: 0, busy: false };
  let cons = Atomics.load(m.consumerPos, 0);
  const prod = Atomics.load(m.producerPos, 0);
  while (cons < prod && out.delivered < max) {
    const off = Number(cons & m.mask);
    const header = Atomics.load(m.words, off >>> 2);
    if ((header & BPF_RINGBUF_BUSY_BIT) !== 0) {
      out.busy = true;
      break;
    }
    const len = header & LEN_MASK;
    const span = recordSpan(len);
    if (BigInt(span) > prod - cons) throw new RingBufCorruptError(m.name, cons, header, Number(prod - cons));
    cons += BigInt(span);
    try {
      if ((header & BPF_RINGBUF_DISCARD_BIT) !== 0) {
        out.discarded++;
      } else {
        out.delivered++;
        handler(Buffer.from(m.data, off + BPF_RINGBUF_HDR_SZ, len), len);
      }
    } finally {
      Atomics.store(m.consumerPos, 0, cons);
    }
  }
  return out;
}

/** A record at buf[off], len bytes: buf is the whole data area (the same Buffer every call), valid during the call only. */
export type RawRecordHandler = (buf: Buffer, off: number, len: number) => void;

/**
 * walkRecords for a hot consumer: no Buffer per record (the handler gets the area and an
 * offset) and the consumer position stored once, at the end of the walk (the producer gets the
 * space back a walk later; bound the walk by `max`). A handler that throws has its record
 * consumed, and the walk stops, as in walkRecords.
 */
export function walkRecordsRaw(m: RingMemory, area: Buffer, handler: RawRecordHandler, max: number): WalkResult {
  if (!Number.isInteger(max) || max < 1) throw new InvalidArgumentError('max', max, 'must be an integer >= 1');
  const out: WalkResult = { delivered: 0, discarded: 0, busy: false };
  const start = Atomics.load(m.consumerPos, 0);
  const avail = Number(Atomics.load(m.producerPos, 0) - start);
  const size = Number(m.mask) + 1;
  const base = Number(start & m.mask);
  let done = 0;
  try {
    while (done < avail && out.delivered < max) {
      const off = (base + done) % size;
      const header = Atomics.load(m.words, off >>> 2);
      if ((header & BPF_RINGBUF_BUSY_BIT) !== 0) {
        out.busy = true;
        break;
      }
      const len = header & LEN_MASK;
      const span = recordSpan(len);
      if (span > avail - done) throw new RingBufCorruptError(m.name, start + BigInt(done), header, avail - done);
      done += span;
      if ((header & BPF_RINGBUF_DISCARD_BIT) !== 0) out.discarded++;
      else {
        out.delivered++;
        handler(area, off + BPF_RINGBUF_HDR_SZ, len);
      }
    }
  } finally {
    if (done > 0) Atomics.store(m.consumerPos, 0, start + BigInt(done));
  }
  return out;
}
