// SPDX-License-Identifier: Apache-2.0
// The peer's flows -> this router (the design's "Connection sync", receiving side). A TCP server
// on this router's private address and the sync port that takes one peer connection at a time.
// It sends the CHALLENGE, then reads frames. HELLO must name the configured peer; it is the first
// frame that proves the key, so until then a connection is only pending (at most MAX_PENDING,
// each given HELLO_TIMEOUT_MS) and neither waits for nor disturbs the peer's; an authenticated
// HELLO on a new connection replaces the peer's older one (left by a restart or a cut link).
// RECORDS are installed (sync-install.ts) and acknowledged (ACK: the last seq installed and the
// lag, so the sender knows where the receiver is); BULK_END with the count of the bulk's records
// makes this router in sync. A refused frame is counted by reason (HaCounters.rejected) and
// closes the connection; the peer's connection closed is "lost": not in sync.

import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type pino from 'pino';
import { monotonicNs } from '../dataplane/reaper.js';
import type { HaCounters, SyncDirection } from './types.js';
import {
  CHALLENGE_BYTES, FrameReader, bytes, FrameType, FrameWriter, SyncFrameError, decodeCount, decodeHello, encodeAck, type Frame,
} from './sync-frames.js';
import { parseRecords } from './sync-records.js';
import { installPayload, type InstallTargets } from './sync-install.js';

export interface SyncReceiverOptions extends InstallTargets {
  /** This router's private address and the sync port. */
  host: string;
  port: number;
  key: Buffer;
  /** The peer's name: a HELLO with another is refused (unknownPeer). */
  peer: string;
  log: pino.Logger;
  /** Counters to count in (the HA manager's); default: this receiver's own. */
  counters?: Pick<HaCounters, 'rejected' | 'syncUnknown'>;
  /** How long a connection has to send a valid HELLO (default HELLO_TIMEOUT_MS). */
  helloTimeoutMs?: number;
}

/** Connections accepted but not yet authenticated (HELLO), at most: more are refused, counted. */
export const MAX_PENDING = 4;
/** A connection has this long to prove the key (a valid HELLO), or it is closed, counted malformed. */
export const HELLO_TIMEOUT_MS = 5_000;

/** What a bulk brought: records of the bulk, and the peer it came from. */
export interface BulkDone {
  records: number;
  peer: string;
  epoch: number;
}

interface Session {
  socket: Socket;
  reader: FrameReader;
  writer: FrameWriter;
  hello?: { name: string; epoch: number };
  /** Records since BULK_BEGIN; undefined outside a bulk. */
  bulk?: number;
}

export class SyncReceiver {
  private server: Server | undefined;
  /** The peer's authenticated connection. */
  private session: Session | undefined;
  private readonly pending = new Set<Session>();
  private readonly stats: SyncDirection = { connected: false, bulkDone: false, records: 0, lagMs: 0 };
  readonly counters: Pick<HaCounters, 'rejected' | 'syncUnknown'>;
  private readonly bulkDoneListeners = new Set<(b: BulkDone) => void>();
  private readonly lostListeners = new Set<(reason: string) => void>();

  constructor(private readonly o: SyncReceiverOptions) {
    this.counters = o.counters ?? { rejected: { forged: 0, replayed: 0, unknownPeer: 0, skewed: 0, malformed: 0 }, syncUnknown: 0 };
  }

  /** Listens; resolves once bound. */
  async start(): Promise<void> {
    const server = createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.o.host, port: this.o.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.o.log.error({ err }, 'sync: listener failed'));
    this.server = server;
  }

  /** The port bound (port 0 given: the one the kernel chose). */
  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : this.o.port;
  }

  /** Stops listening and closes the peer's connection. */
  async stop(): Promise<void> {
    const all = [...this.pending, ...(this.session ? [this.session] : [])];
    const closed = all.map((s) => new Promise<void>((resolve) => s.socket.once('close', () => resolve())));
    for (const s of all) s.socket.destroy();
    await Promise.all(closed);
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** connected; bulkDone: this router holds the peer's table (in sync); records installed; lag of the last batch. */
  status(): SyncDirection {
    return { ...this.stats };
  }

  /** The peer's whole table is installed (BULK_END with its count). */
  onBulkDone(listener: (b: BulkDone) => void): () => void {
    this.bulkDoneListeners.add(listener);
    return () => this.bulkDoneListeners.delete(listener);
  }

  /** The peer's connection ended (closed, or refused for a reason): no longer in sync. */
  onLost(listener: (reason: string) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  private accept(socket: Socket): void {
    if (this.pending.size >= MAX_PENDING) {
      this.counters.rejected.malformed++;
      this.o.log.warn({ from: socket.remoteAddress, pending: this.pending.size }, 'sync: a connection refused: too many unauthenticated ones open');
      socket.destroy();
      return;
    }
    const challenge = randomBytes(CHALLENGE_BYTES);
    const s: Session = { socket, reader: new FrameReader(this.o.key, challenge), writer: new FrameWriter(this.o.key, challenge) };
    this.pending.add(s);
    socket.setNoDelay(true);
    let why = 'closed by the peer';
    const helloMs = this.o.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
    const helloTimer = setTimeout(() => {
      if (s.hello) return;
      why = this.refuse(new SyncFrameError('malformed', `no HELLO within ${helloMs} ms from ${socket.remoteAddress ?? '?'}`));
      socket.destroy();
    }, helloMs);
    socket.write(bytes(challenge));
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const f of s.reader.push(chunk)) this.frame(s, f);
      } catch (err) {
        why = this.refuse(err);
        socket.destroy();
      }
    });
    socket.on('end', () => {
      try {
        s.reader.end();
      } catch (err) {
        why = this.refuse(err);
      }
    });
    socket.on('error', (err) => this.o.log.debug({ err }, 'sync: peer connection error'));
    socket.on('close', () => {
      clearTimeout(helloTimer);
      this.pending.delete(s);
      if (this.session !== s) return;
      this.session = undefined;
      this.lost(why);
    });
  }

  /** The peer's connection is gone (closed, refused, replaced): no longer in sync. */
  private lost(why: string): void {
    const wasInSync = this.stats.bulkDone;
    this.stats.connected = false;
    this.stats.bulkDone = false;
    this.o.log.info({ reason: why, wasInSync }, 'sync: the peer\'s connection ended');
    for (const l of this.lostListeners) l(why);
  }

  /** A valid HELLO: this connection is the peer's from now on; an older one of the peer's is closed. */
  private authenticated(s: Session): void {
    this.pending.delete(s);
    const old = this.session;
    this.session = s;
    if (old) {
      this.o.log.info({ from: s.socket.remoteAddress }, 'sync: the peer connected again; its older connection is closed');
      old.socket.destroy();
      this.lost('replaced by a new connection of the peer');
    }
    this.stats.connected = true;
  }

  /** Counts a refusal by its reason; returns it for the log. Anything not a SyncFrameError is a bug or a map failure. */
  private refuse(err: unknown): string {
    if (err instanceof SyncFrameError) {
      this.counters.rejected[err.reason]++;
      this.o.log.warn({ reason: err.reason, err: err.message }, 'sync: frame refused, connection closed');
      return err.reason;
    }
    this.o.log.error({ err }, 'sync: installing the peer\'s records failed; connection closed');
    return 'install failed';
  }

  private frame(s: Session, f: Frame): void {
    if (!s.hello) {
      if (f.type !== FrameType.HELLO) throw new SyncFrameError('malformed', `frame type ${f.type} before HELLO`);
      const hello = decodeHello(f.payload);
      if (hello.name !== this.o.peer) throw new SyncFrameError('unknownPeer', `HELLO from ${JSON.stringify(hello.name)}, the peer is ${JSON.stringify(this.o.peer)}`);
      s.hello = hello;
      this.authenticated(s);
      return;
    }
    switch (f.type) {
      case FrameType.BULK_BEGIN:
        s.bulk = 0;
        this.stats.bulkDone = false;
        return;
      case FrameType.RECORDS: {
        const batch = parseRecords(f.payload);
        const r = installPayload(this.o, f.payload, batch, monotonicNs());
        this.counters.syncUnknown += r.unknown;
        if (s.bulk !== undefined) s.bulk += batch.count;
        this.stats.records += batch.count;
        this.stats.lagMs = Math.max(0, Date.now() - batch.sentAt);
        this.ack(s, f.seq);
        return;
      }
      case FrameType.BULK_END: {
        const count = decodeCount(f.payload);
        if (s.bulk === undefined || s.bulk !== count) throw new SyncFrameError('malformed', `BULK_END says ${count} records, ${s.bulk ?? 'no bulk'} came`);
        s.bulk = undefined;
        this.stats.bulkDone = true;
        this.ack(s, f.seq);
        this.o.log.info({ records: count, peer: s.hello.name }, 'sync: the peer\'s table is installed');
        for (const l of this.bulkDoneListeners) l({ records: count, peer: s.hello.name, epoch: s.hello.epoch });
        return;
      }
      default:
        throw new SyncFrameError('malformed', `frame type ${f.type} from the sender`);
    }
  }

  private ack(s: Session, seq: bigint): void {
    s.socket.write(bytes(s.writer.frame(FrameType.ACK, encodeAck({ seq, lagMs: this.stats.lagMs, bulkDone: this.stats.bulkDone }))));
  }
}
