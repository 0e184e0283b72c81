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
import { XlvsSyncRec } from '../gen/abi.js';
import { InvalidArgumentError } from '../errors.js';
import type { SlotIndex } from '../dataplane/slots.js';
import { monotonicNs } from '../dataplane/reaper.js';
import { Yielder } from '../model/yielder.js';
import type { SyncDirection } from './types.js';
import {
  CHALLENGE_BYTES, FrameReader, bytes, concat, FrameType, FrameWriter, SyncFrameError, decodeAck, encodeCount, encodeHello,
} from './sync-frames.js';
import {
  SYNC_END, SYNC_NEW, SYNC_UPDATE, type SyncRecord, type SyncSource,
} from './sync-records.js';
import { IdentCache, REC, RecordsQueue, expiresOf, flowBatches } from './sync-stream.js';
import { FLOW, FV } from './sync-raw.js';

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
  private readonly queue = new RecordsQueue();
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
    this.pushRaw(this.scratch, 0, XlvsSyncRec.size, Number(monotonicNs()));
  }

  /** A record of the data plane's sync ring, src[so..so+len) (struct xlvs_sync_rec), copied out at once; now: monotonicNs() as a Number. */
  pushRaw(src: Buffer, so: number, len: number, now: number): void {
    const kind = len >= REC.size ? src.readUInt32LE(so + REC.kind) : -1;
    if (kind !== SYNC_NEW && kind !== SYNC_UPDATE && kind !== SYNC_END) {
      throw new InvalidArgumentError('record', `${len} bytes, kind ${kind}`, `a sync record has ${REC.size} bytes and an enum xlvs_sync_kind`);
    }
    const c = this.conn;
    // Not connected (or not yet past the bulk's start): the next bulk carries the flow.
    if (!c?.writer) return;
    if (kind === SYNC_END) this.queue.add(src, so, kind, undefined, 0);
    else {
      const ident = this.idents.of(src.readUInt32LE(so + REC.pair + FV + FLOW.realId));
      if (!ident) {
        this.untranslated++;
        return;
      }
      this.queue.add(src, so, kind, ident, expiresOf(src, so) - now);
    }
    if (this.queue.records > (this.o.maxQueued ?? 1 << 20)) {
      const n = this.queue.drop();
      this.lost += n;
      this.bulkWanted = true;
      this.o.log.warn({ lost: n }, 'sync: the peer does not keep up; records dropped, a new bulk follows');
      for (const l of this.lostListeners) l(n);
      return;
    }
    if (this.queue.hasFull) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.o.flushMs ?? 1);
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
      this.queue.drop();
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
    else if (this.queue.records > 0) this.flush();
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
    this.queue.seal();
    for (let b = this.queue.take(); b; b = this.congested(c) ? undefined : this.queue.take()) {
      c.socket.write(bytes(c.writer.frame(FrameType.RECORDS, b.payload)));
      this.stats.records += b.n;
    }
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
    let count = 0;
    try {
      c.socket.write(bytes(w.frame(FrameType.BULK_BEGIN)));
      for (const b of flowBatches(this.o.flows.fd, this.idents, Number(monotonicNs()), () => this.untranslated++)) {
        count += b.n;
        this.stats.records += b.n;
        c.socket.write(bytes(w.frame(FrameType.RECORDS, b.finish(Date.now()))));
        if (this.congested(c)) await drained(c.socket);
        else if (y.due()) await y.pause();
        if (this.conn !== c || c.socket.destroyed) return;
      }
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
