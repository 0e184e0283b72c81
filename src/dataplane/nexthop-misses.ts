// SPDX-License-Identifier: Apache-2.0
// Next hops the data plane could not send to (bpf_fib_lookup answered NO_NEIGH), resolved on its
// behalf. XDP traffic neither uses nor confirms the kernel's neighbour entries, so an entry the
// data plane depends on that the kernel drops (its GC removes STALE entries unused for
// gc_stale_time once the table holds gc_thresh1 entries; a link change flushes them) or that
// fails a probe is never resolved again by the kernel's own traffic: the replies to a client
// were dropped (no_neigh) until the client happened to ARP for the VIP itself, 35-50 s later
// (issue 13, defect 12). The reals' next hops have managed entries (neighbours.ts); this covers
// every other one, the clients' side above all.
//
// The data plane writes each unresolved next hop into the nh_misses ring at most once a second
// (fwd.h fwd_nh_miss); here each is handed to the kernel to resolve now (`ip neigh replace ADDR
// dev DEV nud none use`): an ordinary entry, aged and collected by the kernel like any other.
// The ring is polled (ringbuf-poller.ts); asks are bounded per second, so a flood of spoofed
// on-link destinations costs a bounded amount of netlink and ARP.

import type { Logger } from 'pino';
import { XlvsNh, XLVS_AF_INET, XLVS_AF_INET6, XLVS_NH_ASK_MS } from '../gen/abi.js';
import { Netlink } from '../host/netlink.js';
import { linkName } from '../host/links.js';
import { getNeighbour, useNeighbour } from '../host/neighbours.js';
import { RingBuf } from '../kernel/ringbuf.js';
import { RingBufPoller } from '../kernel/ringbuf-poller.js';
import { addressFromBytes } from '../model/ip.js';
import type { Family } from '../model/types.js';

/** What became of an ask: the kernel was asked to resolve it, or it was left as it is and why. */
export type AskResult = { dev: string; asked: true } | { dev: string; asked: false; why: 'managed' | 'resolved' };

/** What resolving needs of the host; netlinkAsker() is the real one. */
export interface NextHopAsker {
  /** Asks the kernel to resolve `address` on the device with index `ifindex`, unless it needs no asking. */
  ask(ifindex: number, address: string): AskResult;
  close?(): void;
}

/** Entry states bpf_fib_lookup resolves with (NUD_VALID): a report of one is out of date. */
const NUD_VALID = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80;

/**
 * What to do with an existing entry (undefined: there is none). A managed entry (the reals',
 * neighbours.ts, or an admin's) is left alone: the kernel re-probes it by itself, and any
 * request without NTF_EXT_MANAGED would strip the flag. A valid one (resolved meanwhile,
 * PERMANENT, NOARP) needs nothing; NTF_USE would even strip PERMANENT. Only a missing,
 * NONE, INCOMPLETE or FAILED ordinary entry is asked for.
 */
export function askWhy(entry: { state: number; managed: boolean } | undefined): 'managed' | 'resolved' | undefined {
  if (entry === undefined) return undefined;
  if (entry.managed) return 'managed';
  if ((entry.state & NUD_VALID) !== 0) return 'resolved';
  return undefined;
}

/** Over a netlink socket in the calling thread's namespace (the daemon's). */
export function netlinkAsker(): NextHopAsker {
  const nl = Netlink.open();
  return {
    ask: (ifindex, address) => {
      const dev = { index: ifindex, name: linkName(nl, ifindex) };
      const why = askWhy(getNeighbour(nl, address, dev));
      if (why !== undefined) return { dev: dev.name, asked: false, why };
      useNeighbour(nl, address, dev);
      return { dev: dev.name, asked: true };
    },
    close: () => nl.close(),
  };
}

/** Asks per second at most; the rest wait for the data plane's next report (a second later). */
export const MAX_ASKS_PER_SECOND = 256;
/** Asks logged one by one per LOG_WINDOW_MS; the rest are summed up at the window's end. */
const LOGGED_PER_WINDOW = 16;
const LOG_WINDOW_MS = 10_000;

export interface NextHopMissesOptions {
  /** The data plane's nh_misses ring. */
  ringFd: number;
  log: Logger;
  /** Default: netlinkAsker(), opened at start(). */
  asker?: NextHopAsker;
  /** How often the ring is looked at (ms). */
  intervalMs?: number;
  /** The clock (ms), for tests. */
  now?: () => number;
}

/** A record of the ring: the next hop, or undefined when it is not one we can read. */
export function decodeMiss(record: Buffer, len: number): { ifindex: number; family: Family; address: string } | undefined {
  if (len !== XlvsNh.size) return undefined;
  const nh = XlvsNh.decode(record, 0);
  const family = nh.family === XLVS_AF_INET ? 4 : nh.family === XLVS_AF_INET6 ? 6 : undefined;
  if (family === undefined || nh.ifindex === 0) return undefined;
  return { ifindex: nh.ifindex, family, address: addressFromBytes(nh.addr, family) };
}

export class NextHopMisses {
  private ring: RingBuf | undefined;
  private poller: RingBufPoller | undefined;
  private asker: NextHopAsker | undefined;
  private readonly now: () => number;
  /** Asks in the current second, and when that second began. */
  private second = { start: 0, asks: 0 };
  /** Log lines in the current window, asks not logged one by one, and when it began. */
  private window = { start: 0, logged: 0, unlogged: 0, limited: 0 };
  /** Totals since start, for tests and the log. */
  readonly counts = { asked: 0, leftAlone: 0, failed: 0, limited: 0, unreadable: 0 };

  constructor(private readonly opts: NextHopMissesOptions) {
    this.now = opts.now ?? Date.now;
    this.asker = opts.asker;
  }

  start(): void {
    if (this.poller) return;
    this.asker ??= netlinkAsker();
    this.ring = RingBuf.open(this.opts.ringFd);
    this.poller = new RingBufPoller(this.ring, (record, len) => this.handle(record, len), {
      intervalMs: this.opts.intervalMs ?? 50,
      onError: (err) => this.opts.log.error({ err }, 'reading unresolved next hops failed; they are no longer resolved on the data plane\'s behalf'),
    });
  }

  stop(): void {
    this.poller?.stop();
    this.poller = undefined;
    this.ring?.close();
    this.ring = undefined;
    if (this.opts.asker === undefined) {
      this.asker?.close?.();
      this.asker = undefined;
    }
    this.flushLog(true);
  }

  /** One record of the ring: asks the kernel to resolve its next hop, within the bounds. */
  handle(record: Buffer, len: number): void {
    const miss = decodeMiss(record, len);
    if (miss === undefined) {
      this.counts.unreadable++;
      return;
    }
    const t = this.now();
    if (t - this.second.start >= XLVS_NH_ASK_MS) this.second = { start: t, asks: 0 };
    this.flushLog(false);
    if (this.second.asks >= MAX_ASKS_PER_SECOND) {
      this.counts.limited++;
      this.window.limited++;
      return;
    }
    this.second.asks++;
    const { log } = this.opts;
    try {
      if (this.asker === undefined) throw new Error('not started');
      const r = this.asker.ask(miss.ifindex, miss.address);
      if (!r.asked) {
        this.counts.leftAlone++;
        log.debug({ nexthop: miss.address, dev: r.dev, why: r.why }, 'next hop unresolved in the data plane; its entry needs no asking');
        return;
      }
      this.counts.asked++;
      if (this.window.logged < LOGGED_PER_WINDOW) {
        this.window.logged++;
        log.info({ nexthop: miss.address, dev: r.dev }, 'next hop unresolved in the data plane (no_neigh drops); asked the kernel to resolve it');
      } else this.window.unlogged++;
    } catch (err) {
      this.counts.failed++;
      log.error({ err, nexthop: miss.address, ifindex: miss.ifindex }, 'asking the kernel to resolve a next hop failed');
    }
  }

  /** Ends the log window once LOG_WINDOW_MS passed (or `force`), with one line for what it did not log. */
  private flushLog(force: boolean): void {
    const t = this.now();
    if (!force && t - this.window.start < LOG_WINDOW_MS) return;
    const { unlogged, limited } = this.window;
    if (unlogged + limited > 0) {
      this.opts.log.warn(
        { askedNotLogged: unlogged, leftForLater: limited, maxPerSecond: MAX_ASKS_PER_SECOND },
        `many next hops unresolved in the data plane: ${unlogged} more asked to be resolved than logged above, ${limited} left for the data plane's next report`,
      );
    }
    this.window = { start: t, logged: 0, unlogged: 0, limited: 0 };
  }
}
