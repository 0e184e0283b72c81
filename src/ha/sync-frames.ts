// SPDX-License-Identifier: Apache-2.0
// The connection sync's framing (the design's "Connection sync"). The listener opens with a
// CHALLENGE of 16 random bytes; every frame after that, either way, is
//   len u32 | type u8 | seq u64 | payload (len bytes) | HMAC-SHA256(key, challenge | len | type | seq | payload)
// all big-endian, seq from 1 and strictly +1 per direction. The challenge makes a recorded
// connection worthless on the next one; the seq makes a frame worthless twice on this one.
// Anything wrong ends the connection: forged (the MAC), replayed (a seq already seen), malformed
// (a gap, a size, a payload that does not read). Pure.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { HaError } from '../errors.js';

export const CHALLENGE_BYTES = 16;
const HEAD = 4 + 1 + 8;
const MAC = 32;
/** Most bytes of one frame, header and MAC included. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
const MAX_NAME_BYTES = 32;

export const FrameType = {
  HELLO: 1,
  BULK_BEGIN: 2,
  RECORDS: 3,
  BULK_END: 4,
  /** Receiver -> sender: the last seq installed and the receiver's lag. */
  ACK: 5,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];
const TYPES = new Set<number>(Object.values(FrameType));

export type RejectReason = 'forged' | 'replayed' | 'malformed' | 'unknownPeer';

/** A sync frame or connection refused; `reason` is the HaCounters.rejected counter it counts in. */
export class SyncFrameError extends HaError {
  constructor(readonly reason: RejectReason, detail: string) {
    super('E_HA_MESSAGE', `sync: ${reason}: ${detail}`);
  }
}

export interface Frame {
  type: FrameType;
  seq: bigint;
  payload: Buffer;
}

/** A Buffer as the Uint8Array node's types want (the same bytes, no copy): @types/node 20's
 * Buffer does not type-check as one under TypeScript 5.9 (see health/probes/expect.ts). */
export const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.length);

/** Buffer.concat, typed. */
export const concat = (list: Buffer[]): Buffer => Buffer.concat(list.map(bytes));

function mac(key: Buffer, challenge: Buffer, head: Buffer, payload: Buffer): Buffer {
  return createHmac('sha256', bytes(key)).update(bytes(challenge)).update(bytes(head)).update(bytes(payload)).digest();
}

/** One direction's frames, numbered from 1. */
export class FrameWriter {
  private seq = 0n;

  constructor(private readonly key: Buffer, private readonly challenge: Buffer) {}

  frame(type: FrameType, payload: Buffer = Buffer.alloc(0)): Buffer {
    if (HEAD + payload.length + MAC > MAX_FRAME_BYTES) throw new RangeError(`a sync frame is at most ${MAX_FRAME_BYTES} bytes (payload ${payload.length})`);
    this.seq += 1n;
    const head = Buffer.alloc(HEAD);
    head.writeUInt32BE(payload.length, 0);
    head.writeUInt8(type, 4);
    head.writeBigUInt64BE(this.seq, 5);
    return concat([head, payload, mac(this.key, this.challenge, head, payload)]);
  }

  /** The seq of the last frame made. */
  get last(): bigint {
    return this.seq;
  }
}

/**
 * The other direction's byte stream -> verified frames. push() takes any chunking and returns
 * the frames completed; it throws SyncFrameError at the first wrong one (the connection is then
 * to be closed: nothing after it is read). end(): the stream closed; bytes left are a truncated frame.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private last = 0n;

  constructor(private readonly key: Buffer, private readonly challenge: Buffer) {}

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Frame[] = [];
    for (;;) {
      if (this.buffered < 4) return out;
      const len = this.peekLength();
      const total = HEAD + len + MAC;
      if (total > MAX_FRAME_BYTES) throw new SyncFrameError('malformed', `a frame of ${total} bytes (at most ${MAX_FRAME_BYTES})`);
      if (this.buffered < total) return out;
      out.push(this.verify(this.take(total), len));
    }
  }

  end(): void {
    if (this.buffered > 0) throw new SyncFrameError('malformed', `the stream ended inside a frame (${this.buffered} bytes)`);
  }

  private peekLength(): number {
    if (this.chunks[0]!.length < 4) this.chunks = [concat(this.chunks)];
    return this.chunks[0]!.readUInt32BE(0);
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : concat(this.chunks);
    const frame = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return frame;
  }

  private verify(b: Buffer, len: number): Frame {
    const head = b.subarray(0, HEAD);
    const payload = b.subarray(HEAD, HEAD + len);
    const want = mac(this.key, this.challenge, head, payload);
    if (!timingSafeEqual(bytes(want), bytes(b.subarray(HEAD + len)))) throw new SyncFrameError('forged', 'the frame\'s HMAC does not match');
    const type = b.readUInt8(4);
    const seq = b.readBigUInt64BE(5);
    if (seq <= this.last) throw new SyncFrameError('replayed', `seq ${seq} after ${this.last}`);
    if (seq !== this.last + 1n) throw new SyncFrameError('malformed', `seq ${seq} after ${this.last}: a gap`);
    if (!TYPES.has(type)) throw new SyncFrameError('malformed', `frame type ${type}`);
    this.last = seq;
    return { type: type as FrameType, seq, payload: Buffer.from(bytes(payload)) };
  }
}

/** HELLO: name len u8 | name | epoch u64 (the sender daemon's start, unix ms). */
export function encodeHello(h: { name: string; epoch: number }): Buffer {
  const name = Buffer.from(h.name, 'utf8');
  if (name.length === 0 || name.length > MAX_NAME_BYTES) throw new RangeError(`a node name is 1..${MAX_NAME_BYTES} bytes`);
  const b = Buffer.alloc(1 + name.length + 8);
  b.writeUInt8(name.length, 0);
  b.set(name, 1);
  b.writeBigUInt64BE(BigInt(h.epoch), 1 + name.length);
  return b;
}

export function decodeHello(p: Buffer): { name: string; epoch: number } {
  const n = p.length > 0 ? p.readUInt8(0) : 0;
  if (n === 0 || n > MAX_NAME_BYTES || p.length !== 1 + n + 8) throw new SyncFrameError('malformed', `HELLO of ${p.length} bytes`);
  return { name: p.toString('utf8', 1, 1 + n), epoch: Number(p.readBigUInt64BE(1 + n)) };
}

/** BULK_END: the records the bulk carried, u64. */
export function encodeCount(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

export function decodeCount(p: Buffer): number {
  if (p.length !== 8) throw new SyncFrameError('malformed', `BULK_END of ${p.length} bytes`);
  return Number(p.readBigUInt64BE(0));
}

/** ACK: the last seq the receiver installed u64 | its lag ms u32 | flags u8 (bit 0: bulk done). */
export interface Ack {
  seq: bigint;
  lagMs: number;
  bulkDone: boolean;
}

export function encodeAck(a: Ack): Buffer {
  const b = Buffer.alloc(13);
  b.writeBigUInt64BE(a.seq, 0);
  b.writeUInt32BE(Math.max(0, Math.min(0xffffffff, Math.round(a.lagMs))), 8);
  b.writeUInt8(a.bulkDone ? 1 : 0, 12);
  return b;
}

export function decodeAck(p: Buffer): Ack {
  if (p.length !== 13) throw new SyncFrameError('malformed', `ACK of ${p.length} bytes`);
  return { seq: p.readBigUInt64BE(0), lagMs: p.readUInt32BE(8), bulkDone: (p.readUInt8(12) & 1) !== 0 };
}
