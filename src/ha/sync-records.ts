// SPDX-License-Identifier: Apache-2.0
// What the connection sync carries (the design's "Connection sync"): a flow's two entries as the
// data plane's sync ring emits them, and the RECORDS batch that puts them on the wire. Slots are
// a router's own numbers, so a record travels with the identities of its service and real
// (serviceId / realId); svc_id, real_id, the deadline and the next-hop cache are zeroed on the
// wire (the deadline travels as the time remaining: the two routers' monotonic clocks differ).
// Pure.

import { XlvsFlow, XlvsFlowKey, XLVS_FLOW_F_DNAT, XLVS_FLOW_F_SNAT } from '../gen/abi.js';
import { SyncFrameError, bytes, concat } from './sync-frames.js';
import { XLVS_SYNC_END, XLVS_SYNC_NEW, XLVS_SYNC_UPDATE } from '../gen/abi.js';
import { FK, FV, PAIR_BYTES, RK, RV, zeroOwn } from './sync-raw.js';

/**
 * Seconds after which the data plane emits an UPDATE for a flow whose deadline moved on (a live
 * flow is re-sent at least this often): the ABI's (bpf/xlvs_abi.h).
 */
export { XLVS_SYNC_REFRESH_S } from '../gen/abi.js';

/** xlvs_sync_rec.kind (enum xlvs_sync_kind). */
export const SYNC_NEW = XLVS_SYNC_NEW;
export const SYNC_UPDATE = XLVS_SYNC_UPDATE;
export const SYNC_END = XLVS_SYNC_END;
export type SyncKind = typeof SYNC_NEW | typeof SYNC_UPDATE | typeof SYNC_END;

/** One record of the data plane's sync ring (struct xlvs_sync_rec), decoded. fk/fv: the forward
 * entry, rk/rv: the reply entry; END: the values are zero. */
export interface SyncRecord {
  kind: SyncKind;
  /** xlvs_now() when emitted. */
  atNs: bigint;
  fk: XlvsFlowKey;
  fv: XlvsFlow;
  rk: XlvsFlowKey;
  rv: XlvsFlow;
}

/** Where the sender takes the data plane's records from. */
export interface SyncSource {
  push(rec: SyncRecord): void;
}

/** A record as it travels: identities instead of slots, the deadline as time remaining. */
export interface WireRecord {
  kind: SyncKind;
  /** serviceId and realId of the flow's real; undefined for END (its values are zero). */
  service?: string;
  real?: string;
  remainingNs: bigint;
  fk: XlvsFlowKey;
  fv: XlvsFlow;
  rk: XlvsFlowKey;
  rv: XlvsFlow;
}

export interface RecordsBatch {
  /** Unix ms when the batch left the sender. */
  sentAt: number;
  records: WireRecord[];
}

/** Most records in one RECORDS frame (the design's batch). */
export const BATCH_RECORDS = 512;
/** The identity index of a record that names none (an END). */
export const NO_IDENT = 0xffff;
/** kind u8 | ident u16 | remaining ns u64 | fk | fv | rk | rv */
export const RECORD_BYTES = 1 + 2 + 8 + PAIR_BYTES;
/** Most identity pairs one batch may name (ident is a u16, 0xffff is "none"). */
const MAX_IDENTS = NO_IDENT;
/** Most bytes of one identity string on the wire. */
export const MAX_ID_BYTES = 1024;

/** An entry as it goes on the wire and into the peer's map: no slots, no deadline, no next hop. */
export function wireFlow(f: XlvsFlow): XlvsFlow {
  return {
    ...f, expires_ns: 0n, svc_id: 0, real_id: 0,
    nh_ifindex: 0, nh_expires_ns: 0n, nh_len: 0, nh_dmac: Buffer.alloc(6), nh_smac: Buffer.alloc(6),
  };
}

/** The key of an entry's partner (bpf/flow.h flow_partner_key): its packet after its rewrites, reversed. */
export function flowPartnerKey(k: XlvsFlowKey, f: XlvsFlow): XlvsFlowKey {
  const snat = (f.flags & XLVS_FLOW_F_SNAT) !== 0;
  const dnat = (f.flags & XLVS_FLOW_F_DNAT) !== 0;
  return {
    dst: Buffer.from(bytes(snat ? f.nat_src : k.src)),
    dport: snat ? f.nat_sport : k.sport,
    src: Buffer.from(bytes(dnat ? f.nat_dst : k.dst)),
    sport: dnat ? f.nat_dport : k.dport,
    proto: k.proto,
    family: k.family,
  };
}

/** A record with its entries as raw ABI bytes (fk | fv | rk | rv, PAIR_BYTES): what the bulk
 * reads from the map and the receiver writes into it, without decoding. */
export interface RawRecord {
  kind: SyncKind;
  service?: string;
  real?: string;
  remainingNs: bigint;
  /** PAIR_BYTES; the entries' own fields (deadline, slots, next hop) are zeroed on encoding. */
  pair: Buffer;
}

/** A decoded record's entries as raw bytes. */
export function rawOf(r: WireRecord): RawRecord {
  const pair = Buffer.alloc(PAIR_BYTES);
  XlvsFlowKey.encode(r.fk, pair, FK);
  XlvsFlow.encode(r.fv, pair, FV);
  XlvsFlowKey.encode(r.rk, pair, RK);
  XlvsFlow.encode(r.rv, pair, RV);
  return { kind: r.kind, ...(r.service !== undefined ? { service: r.service, real: r.real } : {}), remainingNs: r.remainingNs, pair };
}

/** RECORDS payload: sentAt u64 | idents u16 | (svc len u16 | svc | real len u16 | real)* | count u32 | records. */
export function encodeRecords(batch: RecordsBatch): Buffer {
  return encodeRawRecords(batch.sentAt, batch.records.map(rawOf));
}

export function encodeRawRecords(sentAt: number, records: RawRecord[]): Buffer {
  const idents = new Map<string, number>();
  const table: Buffer[] = [];
  const identOf = (r: RawRecord): number => {
    if (r.service === undefined || r.real === undefined) return NO_IDENT;
    const text = `${r.service}\n${r.real}`;
    let i = idents.get(text);
    if (i === undefined) {
      i = idents.size;
      if (i >= MAX_IDENTS) throw new RangeError(`a RECORDS batch names at most ${MAX_IDENTS} (service, real) pairs`);
      idents.set(text, i);
      table.push(lenPrefixed(r.service), lenPrefixed(r.real));
    }
    return i;
  };
  const body = Buffer.alloc(4 + RECORD_BYTES * records.length);
  body.writeUInt32BE(records.length, 0);
  let o = 4;
  for (const r of records) {
    body.writeUInt8(r.kind, o);
    body.writeUInt16BE(identOf(r), o + 1);
    body.writeBigUInt64BE(r.remainingNs < 0n ? 0n : r.remainingNs, o + 3);
    body.set(r.pair, o + 11);
    zeroOwn(body, o + 11 + FV);
    zeroOwn(body, o + 11 + RV);
    o += RECORD_BYTES;
  }
  const head = Buffer.alloc(10);
  head.writeBigUInt64BE(BigInt(sentAt), 0);
  head.writeUInt16BE(idents.size, 8);
  return concat([head, ...table, body]);
}

/** An identity as the table carries it: u16 length, UTF-8 bytes. */
export function lenPrefixed(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length > MAX_ID_BYTES) throw new RangeError(`an identity is at most ${MAX_ID_BYTES} bytes`);
  const out = Buffer.alloc(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  out.set(bytes(b), 2);
  return out;
}

/** The RECORDS payload read back, entries decoded. */
export function decodeRecords(p: Buffer): RecordsBatch {
  const { sentAt, records } = decodeRawRecords(p);
  return {
    sentAt,
    records: records.map(({ pair, ...r }) => ({
      ...r, fk: XlvsFlowKey.decode(pair, FK), fv: XlvsFlow.decode(pair, FV), rk: XlvsFlowKey.decode(pair, RK), rv: XlvsFlow.decode(pair, RV),
    })),
  };
}

/** A RECORDS payload checked whole (decodeRawRecords and the receiver's install read it by offsets): its identities and where its records start. */
export interface ParsedRecords {
  sentAt: number;
  idents: Array<{ service: string; real: string }>;
  count: number;
  /** Offset of the first record (RECORD_BYTES each: kind u8 | ident u16 | remaining u64 | fk | fv | rk | rv). */
  at: number;
}

export function parseRecords(p: Buffer): ParsedRecords {
  const bad = (why: string): never => {
    throw new SyncFrameError('malformed', `RECORDS: ${why}`);
  };
  if (p.length < 14) bad(`${p.length} bytes, shorter than its header`);
  const sentAt = Number(p.readBigUInt64BE(0));
  const nIdents = p.readUInt16BE(8);
  let o = 10;
  const str = (): string => {
    if (o + 2 > p.length) bad('identity table truncated');
    const n = p.readUInt16BE(o);
    if (n > MAX_ID_BYTES || o + 2 + n > p.length) bad('identity table truncated');
    const s = p.toString('utf8', o + 2, o + 2 + n);
    o += 2 + n;
    return s;
  };
  const idents: Array<{ service: string; real: string }> = [];
  for (let i = 0; i < nIdents; i++) idents.push({ service: str(), real: str() });
  if (o + 4 > p.length) bad('record count missing');
  const count = p.readUInt32BE(o);
  o += 4;
  if (p.length - o !== count * RECORD_BYTES) bad(`${count} records need ${count * RECORD_BYTES} bytes, ${p.length - o} given`);
  for (let i = 0, r = o; i < count; i++, r += RECORD_BYTES) {
    const kind = p[r]!;
    if (kind !== SYNC_NEW && kind !== SYNC_UPDATE && kind !== SYNC_END) bad(`record ${i}: kind ${kind}`);
    const ident = p.readUInt16BE(r + 1);
    if (ident !== NO_IDENT && ident >= nIdents) bad(`record ${i}: identity ${ident} of ${nIdents}`);
    if (kind !== SYNC_END && ident === NO_IDENT) bad(`record ${i}: a flow without identity`);
  }
  return { sentAt, idents, count, at: o };
}

/** The RECORDS payload read back, entries raw (views into p); anything inconsistent is malformed (SyncFrameError). */
export function decodeRawRecords(p: Buffer): { sentAt: number; records: RawRecord[] } {
  const { sentAt, idents, count, at } = parseRecords(p);
  const records: RawRecord[] = [];
  for (let i = 0, o = at; i < count; i++, o += RECORD_BYTES) {
    const ident = p.readUInt16BE(o + 1);
    const id = ident === NO_IDENT ? undefined : idents[ident];
    records.push({
      kind: p[o] as SyncKind, ...(id ? { service: id.service, real: id.real } : {}), remainingNs: p.readBigUInt64BE(o + 3),
      pair: p.subarray(o + 11, o + RECORD_BYTES),
    });
  }
  return { sentAt, records };
}
