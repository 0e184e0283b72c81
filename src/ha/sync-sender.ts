// SPDX-License-Identifier: Apache-2.0
// This router's flows -> the peer (the design's "Connection sync", sending side). Connects over
// TCP to the peer's sync port and retries every retryMs while not connected. On each connection:
// the peer's CHALLENGE, HELLO, then the whole table (BULK_BEGIN, RECORDS of every forward entry
// with its partner, BULK_END with the count), then the data plane's records as they are pushed,
// batched (BATCH_RECORDS, or flushMs). Slots become identities through the reconciler's current
// SlotIndex. If the socket does not drain, at most maxQueued records wait; beyond that they are
// counted lost and a new bulk is sent once it drains (the bulk carries whatever was lost).

import { connect, type Socket } from 'node:net';
import type pino from 'pino';
import type { BpfMap } from '../kernel/map.js';
import type { XlvsFlow, XlvsFlowKey } from '../gen/abi.js';
import { XLVS_DIR_FORWARD, XlvsSyncRec } from '../gen/abi.js';
import { InvalidArgumentError } from '../errors.js';
import type { SlotIndex } from '../dataplane/slots.js';
import { monotonicNs } from '../dataplane/reaper.js';
import { Yielder } from '../model/yielder.js';
import type { SyncDirection } from './types.js';
import {
  CHALLENGE_BYTES, FrameReader, bytes, concat, FrameType, FrameWriter, SyncFrameError, decodeAck, encodeCount, encodeHello,
} from './sync-frames.js';
import {
  BATCH_RECORDS, SYNC_END, SYNC_NEW, SYNC_UPDATE, encodeRawRecords, type RawRecord, type SyncRecord, type SyncSource,
} from './sync-records.js';
import { IdentCache, REC, RecordsBuilder, expiresOf } from './sync-stream.js';
import { FK, FLOW, FV, K, PAIR_BYTES, RK, RV, V, lookupRaw, partnerKeyRaw, walkFlows } from './sync-raw.js';

export interface SyncSenderOptions {
  /** The peer's private address and sync port. */
  host: string;
  port: number;
  /** Bind to this router's own private address (optional). */
  localAddress?: string;
  key: Buffer;
  /** This router's name (HELLO) and its daemon's start, unix ms. */
  node: string;
  epoch: number;
  /** The data plane's connection table. */
  flows: BpfMap<XlvsFlowKey, XlvsFlow>;
  /** The reconciler's current slot index. */
  slots: () => SlotIndex;
  log: pino.Logger;
  /** Between connection attempts (default 1000). */
  retryMs?: number;
  /** Records waiting for a socket that does not drain before they are counted lost (default 1M). */
  maxQueued?: number;
  /** A partial batch waits at most this long (default 1). */
  flushMs?: number;
  /** Bytes the socket may hold unsent before records wait in the queue (default 8 MiB). */
  highWaterBytes?: number;
}

interface Conn {
  socket: Socket;
  writer?: FrameWriter;
  reader?: FrameReader;
  pre: Buffer[];
  /** The bulk is being walked: pushed records wait until BULK_END is out. */
  inBulk: boolean;
  bulkEndSeq: bigint;
}

export class SyncSender implements SyncSource {
  private conn: Conn | undefined;
  /** Records waiting: RECORDS payloads made (BATCH_RECORDS each), then the one being made. */
  private ready: Array<{ payload: Buffer; n: number }> = [];
  private readyRecords = 0;
  private readonly building = new RecordsBuilder();
  private readonly idents: IdentCache;
  private readonly scratch = Buffer.alloc(XlvsSyncRec.size);
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = true;
  private bulkWanted = false;
  private readonly stats: SyncDirection = { connected: false, bulkDone: false, records: 0, lagMs: 0 };
  /** Records counted lost (queue overflow) and records whose slot no identity names. */
  lost = 0;
  untranslated = 0;
  private readonly bulkDoneListeners = new Set<(records: number) => void>();
  private readonly lostListeners = new Set<(n: number) => void>();
  private lastBulk = 0;

  constructor(private readonly o: SyncSenderOptions) {
    this.idents = new IdentCache(o.slots);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.dial();
  }

  /** Closes the connection and stops retrying. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    clearTimeout(this.timer);
    const c = this.conn;
    if (!c) return;
    await new Promise<void>((resolve) => {
      c.socket.once('close', () => resolve());
      c.socket.destroy();
    });
  }

  status(): SyncDirection {
    return { ...this.stats };
  }

  /** The peer installed the whole bulk (it acknowledged BULK_END): listener(records of the bulk). */
  onBulkDone(listener: (records: number) => void): () => void {
    this.bulkDoneListeners.add(listener);
    return () => this.bulkDoneListeners.delete(listener);
  }

  /** Records were dropped (the socket did not drain): listener(how many). A new bulk follows. */
  onLost(listener: (n: number) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /** A record of the data plane's sync ring, decoded (pushRaw takes it as the ring holds it). */
  push(rec: SyncRecord): void {
    XlvsSyncRec.encode({ kind: rec.kind, at_ns: rec.atNs, fk: rec.fk, fv: rec.fv, rk: rec.rk, rv: rec.rv }, this.scratch, 0);
    this.pushRaw(this.scratch, 0, XlvsSyncRec.size, monotonicNs());
  }

  /** A record of the data plane's sync ring, src[so..so+len) (struct xlvs_sync_rec), copied out at once; now: monotonicNs(). */
  pushRaw(src: Buffer, so: number, len: number, now: bigint): void {
    const kind = len >= REC.size ? src.readUInt32LE(so + REC.kind) : -1;
    if (kind !== SYNC_NEW && kind !== SYNC_UPDATE && kind !== SYNC_END) {
      throw new InvalidArgumentError('record', `${len} bytes, kind ${kind}`, `a sync record has ${REC.size} bytes and an enum xlvs_sync_kind`);
    }
    const c = this.conn;
    // Not connected (or not yet past the bulk's start): the next bulk carries the flow.
    if (!c?.writer) return;
    if (kind === SYNC_END) this.building.add(src, so, kind, undefined, 0n);
    else {
      const ident = this.idents.of(src.readUInt32LE(so + REC.pair + FV + FLOW.realId));
      if (!ident) {
        this.untranslated++;
        return;
      }
      this.building.add(src, so, kind, ident, expiresOf(src, so) - now);
    }
    if (this.building.full) this.seal();
    if (this.readyRecords + this.building.n > (this.o.maxQueued ?? 1 << 20)) {
      const n = this.dropQueue();
      this.lost += n;
      this.bulkWanted = true;
      this.o.log.warn({ lost: n }, 'sync: the peer does not keep up; records dropped, a new bulk follows');
      for (const l of this.lostListeners) l(n);
      return;
    }
    if (this.ready.length > 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.o.flushMs ?? 1);
  }

  /** Empties the queue; returns how many records it held. */
  private dropQueue(): number {
    let n = this.building.n;
    for (const b of this.ready) n += b.n;
    this.ready = [];
    this.readyRecords = 0;
    this.building.clear();
    return n;
  }

  /** The batch being made becomes a RECORDS payload, waiting to be sent. */
  private seal(): void {
    this.readyRecords += this.building.n;
    this.ready.push({ n: this.building.n, payload: this.building.finish(Date.now()) });
  }

  /**
   * Records were lost before they reached this sender (the data plane's ring was full): a new bulk
   * carries their flows. Now if the connection is idle; else at the end of the running bulk, at
   * the socket's drain, or with the next connection's bulk.
   */
  resync(): void {
    this.bulkWanted = true;
    const c = this.conn;
    if (!c?.writer || c.inBulk || this.congested(c)) return;
    this.runBulk(c);
  }

  private dial(): void {
    if (this.stopped) return;
    const socket = connect({ host: this.o.host, port: this.o.port, localAddress: this.o.localAddress });
    socket.setNoDelay(true);
    const c: Conn = { socket, pre: [], inBulk: false, bulkEndSeq: 0n };
    this.conn = c;
    socket.on('connect', () => {
      this.stats.connected = true;
      this.o.log.info({ peer: `${this.o.host}:${this.o.port}` }, 'sync: connected to the peer');
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        this.onData(c, chunk);
      } catch (err) {
        this.o.log.warn({ err }, 'sync: the peer\'s answer refused; closing');
        socket.destroy();
      }
    });
    socket.on('drain', () => this.onDrain(c));
    socket.on('error', (err) => this.o.log.debug({ err }, 'sync: connection error'));
    socket.on('close', () => {
      if (this.conn === c) this.conn = undefined;
      clearTimeout(this.timer);
      this.timer = undefined;
      this.dropQueue();
      this.stats.connected = false;
      this.stats.bulkDone = false;
      if (!this.stopped) this.retry = setTimeout(() => this.dial(), this.o.retryMs ?? 1000);
    });
  }

  private onData(c: Conn, chunk: Buffer): void {
    if (!c.reader) {
      c.pre.push(chunk);
      const all = concat(c.pre);
      if (all.length < CHALLENGE_BYTES) return;
      const challenge = all.subarray(0, CHALLENGE_BYTES);
      c.reader = new FrameReader(this.o.key, challenge);
      c.writer = new FrameWriter(this.o.key, challenge);
      c.socket.write(bytes(c.writer.frame(FrameType.HELLO, encodeHello({ name: this.o.node, epoch: this.o.epoch }))));
      this.runBulk(c);
      chunk = all.subarray(CHALLENGE_BYTES);
    }
    for (const f of c.reader.push(chunk)) {
      if (f.type !== FrameType.ACK) throw new SyncFrameError('malformed', `frame type ${f.type} from the receiver`);
      const ack = decodeAck(f.payload);
      this.stats.lagMs = ack.lagMs;
      if (c.bulkEndSeq > 0n && ack.seq >= c.bulkEndSeq && ack.bulkDone && !this.stats.bulkDone) {
        this.stats.bulkDone = true;
        this.o.log.info({ records: this.lastBulk }, 'sync: the peer holds our table');
        for (const l of this.bulkDoneListeners) l(this.lastBulk);
      }
    }
  }

  private onDrain(c: Conn): void {
    if (this.conn !== c || c.inBulk) return;
    if (this.bulkWanted) this.runBulk(c);
    else if (this.ready.length > 0 || this.building.n > 0) this.flush();
  }

  private congested(c: Conn): boolean {
    return c.socket.writableLength > (this.o.highWaterBytes ?? 8 << 20);
  }

  /** Sends what the queue holds, a batch per frame, unless the socket is full or a bulk runs. */
  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const c = this.conn;
    if (!c?.writer || c.inBulk || this.congested(c)) return;
    if (this.building.n > 0) this.seal();
    let i = 0;
    for (; i < this.ready.length && !this.congested(c); i++) {
      const { payload, n } = this.ready[i]!;
      c.socket.write(bytes(c.writer.frame(FrameType.RECORDS, payload)));
      this.stats.records += n;
      this.readyRecords -= n;
    }
    this.ready.splice(0, i);
  }

  private send(c: Conn, records: RawRecord[]): void {
    if (records.length === 0) return;
    c.socket.write(bytes(c.writer!.frame(FrameType.RECORDS, encodeRawRecords(Date.now(), records))));
    this.stats.records += records.length;
  }

  private runBulk(c: Conn): void {
    this.bulk(c).catch((err: unknown) => {
      this.o.log.error({ err }, 'sync: reading the flows for the bulk failed; reconnecting');
      c.socket.destroy();
    });
  }

  /** The whole table: every live forward entry with its partner, BATCH_RECORDS per frame, read
   * and sent as raw bytes (sync-raw.ts). */
  private async bulk(c: Conn): Promise<void> {
    if (c.inBulk) return;
    c.inBulk = true;
    this.bulkWanted = false;
    this.stats.bulkDone = false;
    const w = c.writer!;
    const y = new Yielder();
    const fd = this.o.flows.fd;
    const kbuf = Buffer.alloc(K);
    const vbuf = Buffer.alloc(V);
    let count = 0;
    let batch: RawRecord[] = [];
    try {
      c.socket.write(bytes(w.frame(FrameType.BULK_BEGIN)));
      const now = monotonicNs();
      const slots = this.o.slots();
      for (const { keys, vals, n } of walkFlows(fd)) {
        for (let i = 0; i < n; i++) {
          const vo = i * V;
          if (vals[vo + FLOW.dir] !== XLVS_DIR_FORWARD) continue;
          const expires = vals.readBigUInt64LE(vo + FLOW.expires);
          if (expires < now) continue;
          const pair = Buffer.alloc(PAIR_BYTES);
          pair.set(keys.subarray(i * K, i * K + K), FK);
          pair.set(vals.subarray(vo, vo + V), FV);
          partnerKeyRaw(pair, FK, pair, FV, kbuf, 0);
          const realSlot = pair.readUInt32LE(FV + FLOW.realId);
          // As flow.h flow_partner: a reply entry of the same real, else not this flow's partner.
          if (!lookupRaw(fd, kbuf, vbuf) || vbuf[FLOW.dir] === XLVS_DIR_FORWARD || vbuf.readUInt32LE(FLOW.realId) !== realSlot) continue;
          pair.set(kbuf, RK);
          pair.set(vbuf, RV);
          const ref = slots.realAt(realSlot);
          if (!ref) {
            this.untranslated++;
            continue;
          }
          batch.push({ kind: SYNC_NEW, service: ref.service, real: ref.real, remainingNs: expires - now, pair });
          if (batch.length < BATCH_RECORDS) continue;
          this.send(c, batch);
          count += batch.length;
          batch = [];
          if (this.congested(c)) await drained(c.socket);
          else if (y.due()) await y.pause();
          if (this.conn !== c || c.socket.destroyed) return;
        }
      }
      this.send(c, batch);
      count += batch.length;
      c.bulkEndSeq = w.last + 1n;
      this.lastBulk = count;
      c.socket.write(bytes(w.frame(FrameType.BULK_END, encodeCount(count))));
      this.o.log.info({ records: count }, 'sync: bulk sent');
    } finally {
      c.inBulk = false;
    }
    if (this.conn !== c) return;
    // Records were lost while this bulk ran: it may have passed their flows already.
    if (this.bulkWanted) this.runBulk(c);
    else this.flush();
  }
}

function drained(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.once('drain', done);
    s.once('close', done);
  });
}
