// SPDX-License-Identifier: Apache-2.0
// The HA heartbeat message (the design's "Heartbeats"): its encoding, and the verifier a receiver
// runs every datagram through. Pure: no sockets, no clock (the caller passes nowMs).
//
// Wire format, big-endian:
//   "XLHA" | ver u8 = 1 | type u8 | name len u8 | name | priority u8 | role u8 | flags u8 |
//   epoch u64 | seq u64 | time u64 | holdMs u32 | syncLagMs u32 | HMAC-SHA256(key, all before) 32
// The framing (magic, version, name length against the datagram's length) is checked first, so
// stray traffic on the port is `malformed`, not `forged`; then the HMAC, over everything before
// it; only then is any field believed.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { HaError } from '../errors.js';
import type { HaCounters, HaPath, Role } from './types.js';

export const HEARTBEAT_MAGIC = 'XLHA';
export const HEARTBEAT_VERSION = 1;
/** The longest datagram looked at: anything longer is malformed, and not hashed. */
export const HEARTBEAT_MAX_BYTES = 256;
export const HEARTBEAT_MAC_BYTES = 32;
/** Bytes besides the name: magic 4, ver, type, name len, priority, role, flags, 3 u64, 2 u32, MAC. */
export const HEARTBEAT_FIXED_BYTES = 4 + 3 + 3 + 24 + 8 + HEARTBEAT_MAC_BYTES;
export const HEARTBEAT_MAX_NAME_BYTES = 32;

export type HeartbeatType = 'advert' | 'goodbye' | 'restarting' | 'yield';
/** The type byte of each message type. */
export const HEARTBEAT_TYPE: Readonly<Record<HeartbeatType, number>> = Object.freeze({ advert: 1, goodbye: 2, restarting: 3, yield: 4 });
const TYPE_OF = ['', 'advert', 'goodbye', 'restarting', 'yield'] as const;
const ROLE_CODE: Readonly<Record<Role, number>> = Object.freeze({ backup: 0, master: 1, fault: 2 });
const ROLE_OF = ['backup', 'master', 'fault'] as const;
const FLAG_HOLD = 1;
const FLAG_IN_SYNC = 2;
const FLAG_BULK_DONE = 4;
/** Sent on the private network (else the public one): a copy replayed on the other path is refused. */
const FLAG_PRIVATE = 8;
const NAME = /^[A-Za-z0-9._-]{1,32}$/;
const MAX_U32 = 0xffff_ffff;

export interface Heartbeat {
  type: HeartbeatType;
  /** The sender's node name. */
  name: string;
  /** The sender's effective priority: 0..254, 0 in fault or hold. */
  priority: number;
  role: Role;
  hold: boolean;
  inSync: boolean;
  /** The sender's inbound bulk (the table this router sent it) is done. */
  bulkDone: boolean;
  /**
   * The network it was sent on. Each path has its own seq (the same beat goes out on both), and the
   * receiver takes a message only on its own path.
   */
  path: HaPath;
  /** The sender daemon's start, unix ms: a restart is a new, greater epoch. */
  epoch: number;
  /** 1, 2, ... within an epoch. */
  seq: number;
  /** Unix ms when sent. */
  timeMs: number;
  /** RESTARTING: how long the receiver holds off (ms); 0 otherwise. */
  holdMs: number;
  syncLagMs: number;
}

export type HeartbeatRejection = keyof HaCounters['rejected'];

export type VerifyResult = { ok: true; message: Heartbeat } | { ok: false; reason: HeartbeatRejection };

/** A Buffer as the Uint8Array it is (this @types/node's Buffer is not assignable to one). */
function view(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function hmac(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha256', view(key)).update(view(data)).digest();
}

function check(ok: boolean, field: string, value: unknown): void {
  if (!ok) throw new HaError('E_HA_MESSAGE', `heartbeat ${field}: cannot be encoded (got ${JSON.stringify(value)})`);
}

/** The datagram of `m`, signed with `key`. Throws HaError E_HA_MESSAGE for a field out of range. */
export function encodeHeartbeat(m: Heartbeat, key: Buffer): Buffer {
  check(NAME.test(m.name), 'name', m.name);
  check(Number.isInteger(m.priority) && m.priority >= 0 && m.priority <= 254, 'priority', m.priority);
  check(Object.hasOwn(HEARTBEAT_TYPE, m.type), 'type', m.type);
  check(Object.hasOwn(ROLE_CODE, m.role), 'role', m.role);
  for (const f of ['epoch', 'seq', 'timeMs'] as const) check(Number.isSafeInteger(m[f]) && m[f] >= 0, f, m[f]);
  for (const f of ['holdMs', 'syncLagMs'] as const) check(Number.isInteger(m[f]) && m[f] >= 0 && m[f] <= MAX_U32, f, m[f]);
  const b = Buffer.alloc(HEARTBEAT_FIXED_BYTES + m.name.length); // ASCII: one byte a character
  let o = b.write(HEARTBEAT_MAGIC, 0, 'ascii');
  o = b.writeUInt8(HEARTBEAT_VERSION, o);
  o = b.writeUInt8(HEARTBEAT_TYPE[m.type], o);
  o = b.writeUInt8(m.name.length, o);
  o += b.write(m.name, o, 'ascii');
  o = b.writeUInt8(m.priority, o);
  o = b.writeUInt8(ROLE_CODE[m.role], o);
  o = b.writeUInt8((m.hold ? FLAG_HOLD : 0) | (m.inSync ? FLAG_IN_SYNC : 0) | (m.bulkDone ? FLAG_BULK_DONE : 0) | (m.path === 'private' ? FLAG_PRIVATE : 0), o);
  o = b.writeBigUInt64BE(BigInt(m.epoch), o);
  o = b.writeBigUInt64BE(BigInt(m.seq), o);
  o = b.writeBigUInt64BE(BigInt(m.timeMs), o);
  o = b.writeUInt32BE(m.holdMs, o);
  o = b.writeUInt32BE(m.syncLagMs, o);
  b.set(hmac(key, b.subarray(0, o)), o);
  return b;
}

/**
 * The message in a datagram whose framing and HMAC are good, or why not (forged, malformed).
 * Says nothing of who sent it, when or whether it was seen before: HeartbeatVerifier does.
 */
export function decodeHeartbeat(b: Buffer, key: Buffer): VerifyResult {
  const len = b.length;
  if (len > HEARTBEAT_MAX_BYTES || len < HEARTBEAT_FIXED_BYTES + 1) return { ok: false, reason: 'malformed' };
  if (b.toString('latin1', 0, 4) !== HEARTBEAT_MAGIC || b[4] !== HEARTBEAT_VERSION) return { ok: false, reason: 'malformed' };
  const nameLen = b[6] as number;
  if (len !== HEARTBEAT_FIXED_BYTES + nameLen) return { ok: false, reason: 'malformed' };
  const body = len - HEARTBEAT_MAC_BYTES;
  if (!timingSafeEqual(view(hmac(key, b.subarray(0, body))), view(b.subarray(body)))) return { ok: false, reason: 'forged' };
  // Signed by the key: a bad field from here on is a peer's bug, not an attack.
  const type = TYPE_OF[b[5] as number];
  const name = b.toString('latin1', 7, 7 + nameLen);
  let o = 7 + nameLen;
  const priority = b.readUInt8(o);
  const role = ROLE_OF[b.readUInt8(o + 1)];
  const flags = b.readUInt8(o + 2);
  o += 3;
  const [epoch, seq, timeMs] = [0, 8, 16].map((d) => b.readBigUInt64BE(o + d));
  o += 24;
  const safe = (v: bigint | undefined): v is bigint => v !== undefined && v <= BigInt(Number.MAX_SAFE_INTEGER);
  if (!type || !role || !NAME.test(name) || priority > 254 || flags > 15 || !safe(epoch) || !safe(seq) || !safe(timeMs)) {
    return { ok: false, reason: 'malformed' };
  }
  return {
    ok: true,
    message: {
      type, name, priority, role,
      hold: (flags & FLAG_HOLD) !== 0, inSync: (flags & FLAG_IN_SYNC) !== 0, bulkDone: (flags & FLAG_BULK_DONE) !== 0, path: (flags & FLAG_PRIVATE) !== 0 ? 'private' : 'public',
      epoch: Number(epoch), seq: Number(seq), timeMs: Number(timeMs),
      holdMs: b.readUInt32BE(o), syncLagMs: b.readUInt32BE(o + 4),
    },
  };
}

export interface HeartbeatVerifierOptions {
  key: Buffer;
  /** The node names heartbeats are taken from (the peer's). */
  peers: readonly string[];
  /** Most a message's time may differ from the receiver's clock (ms). */
  maxSkewMs: number;
}

/**
 * Checks received heartbeats: framing and HMAC (decodeHeartbeat), then the sender is a known peer,
 * its clock within maxSkewMs of ours and its (epoch, seq) greater than the last accepted from it.
 * A rejection is counted and changes nothing else; `rejected` has HaCounters' shape.
 */
export class HeartbeatVerifier {
  readonly rejected: HaCounters['rejected'] = { forged: 0, replayed: 0, unknownPeer: 0, skewed: 0, malformed: 0 };
  private readonly last = new Map<string, { epoch: number; seq: number }>();

  constructor(private readonly opts: HeartbeatVerifierOptions) {}

  /** A datagram received on `path`: its seq is judged against that path's last. */
  verify(data: Buffer, nowMs: number, path: HaPath = 'public'): VerifyResult {
    const r = this.judge(data, nowMs, path);
    if (!r.ok) this.rejected[r.reason]++;
    return r;
  }

  /** The last (epoch, seq) accepted from `peer`, if any. */
  lastAccepted(peer: string, path: HaPath = 'public'): { epoch: number; seq: number } | undefined {
    const l = this.last.get(`${peer}/${path}`);
    return l === undefined ? undefined : { ...l };
  }

  private judge(data: Buffer, nowMs: number, path: HaPath): VerifyResult {
    const r = decodeHeartbeat(data, this.opts.key);
    if (!r.ok) return r;
    const m = r.message;
    if (!this.opts.peers.includes(m.name)) return { ok: false, reason: 'unknownPeer' };
    if (Math.abs(nowMs - m.timeMs) > this.opts.maxSkewMs) return { ok: false, reason: 'skewed' };
    // Sent for the other path: a copy carried over (its seq belongs to that path's sequence).
    if (m.path !== path) return { ok: false, reason: 'replayed' };
    const slot = `${m.name}/${path}`;
    const last = this.last.get(slot);
    if (last !== undefined && (m.epoch < last.epoch || (m.epoch === last.epoch && m.seq <= last.seq))) {
      return { ok: false, reason: 'replayed' };
    }
    this.last.set(slot, { epoch: m.epoch, seq: m.seq });
    return r;
  }
}
