// SPDX-License-Identifier: Apache-2.0
// The streamed sync's hot path on raw bytes (the same RECORDS payload as encodeRawRecords and
// decodeRawRecords, sync-records.ts, without an object per record): the sender copies each ring
// record (struct xlvs_sync_rec) straight into the payload it builds, its slots named by identity
// through a per-slot cache; the receiver checks a payload whole, then walks it by offsets.
// Profiled: the decode of each ring record into objects (six Buffers) and back was most of the
// sender's ~16 us a record.

import { ABI_LAYOUT, XLVS_DIR_FORWARD, XlvsSyncRec } from '../gen/abi.js';
import type { SlotIndex } from '../dataplane/slots.js';
import { SyncFrameError, bytes } from './sync-frames.js';
import { BATCH_RECORDS, NO_IDENT, RECORD_BYTES, SYNC_END, SYNC_NEW, SYNC_UPDATE, lenPrefixed } from './sync-records.js';
import { FK, FLOW, FV, K, RK, RV, V, lookupRaw, partnerKeyRaw, readU64LE, walkFlows, writeU64BE, zeroOwn } from './sync-raw.js';

const member = (name: string): number => ABI_LAYOUT.xlvs_sync_rec!.members.find(([n]) => n === name)![1];
/** Offsets in struct xlvs_sync_rec: kind, at_ns, and fk | fv | rk | rv, contiguous as on the wire. */
export const REC = { kind: member('kind'), pair: member('fk'), size: XlvsSyncRec.size };
if (member('rv') + 96 !== REC.size || member('fv') !== REC.pair + FV || member('rv') !== REC.pair + RV) {
  throw new Error('ABI layout: xlvs_sync_rec is not kind | pad | at_ns | fk | fv | rk | rv');
}

/** Real slot -> its identity pair as it goes in a RECORDS identity table (svc len | svc | real len | real); rebuilt when the SlotIndex changes. */
export class IdentCache {
  private index: SlotIndex | undefined;
  private bySlot: (Buffer | null | undefined)[] = [];

  constructor(private readonly slots: () => SlotIndex) {}

  /** undefined: no identity names the slot. */
  of(realSlot: number): Buffer | undefined {
    const index = this.slots();
    if (index !== this.index) {
      this.index = index;
      this.bySlot = [];
    }
    let b = this.bySlot[realSlot];
    if (b === undefined) {
      const ref = index.realAt(realSlot);
      b = ref ? Buffer.concat([bytes(lenPrefixed(ref.service)), bytes(lenPrefixed(ref.real))]) : null;
      this.bySlot[realSlot] = b;
    }
    return b ?? undefined;
  }
}


/** One RECORDS payload in the making: at most BATCH_RECORDS records. */
export class RecordsBuilder {
  private readonly body = Buffer.allocUnsafe(BATCH_RECORDS * RECORD_BYTES);
  private readonly body8 = bytes(this.body);
  private readonly idents = new Map<Buffer, number>();
  private tableBytes = 0;
  n = 0;

  get full(): boolean {
    return this.n >= BATCH_RECORDS;
  }

  /** A ring record at src[so] (REC layout); ident: the flow's identity pair (undefined for END); remaining: ns. */
  add(src: Buffer, so: number, kind: number, ident: Buffer | undefined, remainingNs: number): void {
    const o = this.head(kind, ident, remainingNs);
    src.copy(this.body8, o + 11, so + REC.pair, so + REC.size);
    this.own(o);
  }

  /** A flow's two entries from where a walk of the map found them: the forward key and value at keys[ko] / vals[vo], the reply's in rk / rv. */
  addEntries(kind: number, ident: Buffer, remainingNs: number, keys: Buffer, ko: number, vals: Buffer, vo: number, rk: Buffer, rv: Buffer): void {
    const o = this.head(kind, ident, remainingNs) + 11;
    keys.copy(this.body8, o + FK, ko, ko + K);
    vals.copy(this.body8, o + FV, vo, vo + V);
    rk.copy(this.body8, o + RK, 0, K);
    rv.copy(this.body8, o + RV, 0, V);
    this.own(o - 11);
  }

  private own(o: number): void {
    zeroOwn(this.body8, o + 11 + FV);
    zeroOwn(this.body8, o + 11 + RV);
    this.n++;
  }

  /** Writes a record's kind, identity and remaining time; returns its offset in the body. */
  private head(kind: number, ident: Buffer | undefined, remainingNs: number): number {
    const o = this.n * RECORD_BYTES;
    const b = this.body;
    b[o] = kind;
    let i = NO_IDENT;
    if (ident) {
      const have = this.idents.get(ident);
      if (have === undefined) {
        i = this.idents.size;
        this.idents.set(ident, i);
        this.tableBytes += ident.length;
      } else i = have;
    }
    b.writeUInt16BE(i, o + 1);
    writeU64BE(b, o + 3, remainingNs);
    return o;
  }

  clear(): void {
    this.idents.clear();
    this.tableBytes = 0;
    this.n = 0;
  }

  /** The payload (a new Buffer: sentAt u64 | idents u16 | table | count u32 | records); the builder is empty again. */
  finish(sentAt: number): Buffer {
    const bodyBytes = this.n * RECORD_BYTES;
    const out = Buffer.allocUnsafe(10 + this.tableBytes + 4 + bodyBytes);
    out.writeBigUInt64BE(BigInt(sentAt), 0);
    out.writeUInt16BE(this.idents.size, 8);
    let o = 10;
    const out8 = bytes(out);
    for (const id of this.idents.keys()) o += id.copy(out8, o);
    out.writeUInt32BE(this.n, o);
    this.body.copy(out8, o + 4, 0, bodyBytes);
    this.clear();
    return out;
  }
}

/**
 * The bulk's walk: every forward entry of the flows map live at `now`, with its partner, into
 * RECORDS payloads (SYNC_NEW); yields the builder when full and once at the end (the caller
 * finishes it before asking for the next).
 */
export function* flowBatches(fd: number, idents: IdentCache, now: number, untranslated: () => void): Generator<RecordsBuilder> {
  const kbuf = Buffer.alloc(K);
  const vbuf = Buffer.alloc(V);
  const b = new RecordsBuilder();
  for (const { keys, vals, n } of walkFlows(fd)) {
    for (let i = 0; i < n; i++) {
      const vo = i * V;
      if (vals[vo + FLOW.dir] !== XLVS_DIR_FORWARD) continue;
      const expires = readU64LE(vals, vo + FLOW.expires);
      if (expires < now) continue;
      partnerKeyRaw(keys, i * K, vals, vo, kbuf, 0);
      const realSlot = vals.readUInt32LE(vo + FLOW.realId);
      // As flow.h flow_partner: a reply entry of the same real, else not this flow's partner.
      if (!lookupRaw(fd, kbuf, vbuf) || vbuf[FLOW.dir] === XLVS_DIR_FORWARD || vbuf.readUInt32LE(FLOW.realId) !== realSlot) continue;
      const ident = idents.of(realSlot);
      if (!ident) {
        untranslated();
        continue;
      }
      b.addEntries(SYNC_NEW, ident, expires - now, keys, i * K, vals, vo, kbuf, vbuf);
      if (b.full) yield b;
    }
  }
  if (b.n > 0) yield b;
}

/** The sender's records waiting: RECORDS payloads made (BATCH_RECORDS each), then the one being made. */
export class RecordsQueue {
  private ready: Array<{ payload: Buffer; n: number } | undefined> = [];
  private head = 0;
  private readyRecords = 0;
  private readonly building = new RecordsBuilder();

  get records(): number {
    return this.readyRecords + this.building.n;
  }

  /** A payload is made and waits. */
  get hasFull(): boolean {
    return this.head < this.ready.length;
  }

  add(src: Buffer, so: number, kind: number, ident: Buffer | undefined, remainingNs: number): void {
    this.building.add(src, so, kind, ident, remainingNs);
    if (this.building.full) this.seal();
  }

  /** The batch being made (if any) becomes a payload, waiting. */
  seal(): void {
    if (this.building.n === 0) return;
    this.readyRecords += this.building.n;
    this.ready.push({ n: this.building.n, payload: this.building.finish(Date.now()) });
  }

  /** The oldest payload waiting, taken out of the queue. */
  take(): { payload: Buffer; n: number } | undefined {
    const b = this.ready[this.head];
    if (!b) return undefined;
    this.ready[this.head++] = undefined;
    this.readyRecords -= b.n;
    if (this.head === this.ready.length) {
      this.ready = [];
      this.head = 0;
    }
    return b;
  }

  /** Empties the queue; returns how many records it held. */
  drop(): number {
    const n = this.records;
    this.ready = [];
    this.head = 0;
    this.readyRecords = 0;
    this.building.clear();
    return n;
  }
}

/** The deadline (expires_ns) of a ring record's forward entry. */
export function expiresOf(src: Buffer, so: number): number {
  return readU64LE(src, so + REC.pair + FV + FLOW.expires);
}

