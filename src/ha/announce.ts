// SPDX-License-Identifier: Apache-2.0
// Taking over floating addresses on the wire: a gratuitous ARP for each IPv4 address and an
// unsolicited Neighbor Advertisement for each IPv6 one, so every neighbour on the link points
// the address at this router's MAC at once (no waiting for its cache entry to go stale).
//
//  - GARP: an ARP *request* with sender IP = target IP = the address, to ff:ff:ff:ff:ff:ff. Linux
//    (arp_is_garp) updates an existing entry from it regardless of locktime; a request, unlike a
//    reply, is also taken by stacks that ignore unsolicited replies.
//  - NA (RFC 4861 7.2.6): from the address itself (a valid address of the interface), to ff02::1,
//    hop limit 255, Override set (replace the cached MAC), Solicited clear (it answers nothing;
//    a multicast NA with S set is invalid), Router as the kernel sets it on a forwarding
//    interface, the Target Link-Layer Address option carrying our MAC.
//
// The frames leave by the one raw-frame sender (src/host/raw-frames.ts): one sendmmsg() per
// round. Nothing here forks a process or waits on the kernel but for the send itself.

import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { InvalidArgumentError, NetlinkError } from '../errors.js';
import { parseIPv4, parseIPv6 } from '../model/ip.js';
import type { Netlink } from '../host/netlink.js';
import { RawFrames, type SendResult } from '../host/raw-frames.js';
import { getLinkByName, decodeLink } from '../host/rtnl-messages.js';

const ETH_HLEN = 14;
/** Shortest Ethernet frame without FCS: shorter ones are padded (ARP is 42 bytes). */
const ETH_ZLEN = 60;
const ETH_P_IP = 0x0800;
const ETH_P_ARP = 0x0806;
const ETH_P_IPV6 = 0x86dd;
const ARPHRD_ETHER = 1;
const ARPOP_REQUEST = 1;
const IPPROTO_ICMPV6 = 58;
const ND_NEIGHBOR_ADVERT = 136;
const ND_OPT_TARGET_LL_ADDR = 2;
const ND_HOP_LIMIT = 255;
/** NA flags, the first byte after the checksum. */
export const NA_ROUTER = 0x80;
export const NA_SOLICITED = 0x40;
export const NA_OVERRIDE = 0x20;
/** ICMPv6 NA with one 8-byte option: type, code, checksum, flags(4), target(16), option(8). */
const NA_LEN = 32;
export const GARP_FRAME_LEN = ETH_ZLEN;
export const NA_FRAME_LEN = ETH_HLEN + 40 + NA_LEN;
const BROADCAST = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
/** ff02::1 and its Ethernet multicast address 33:33 + the low 32 bits. */
const ALL_NODES = Buffer.from('ff020000000000000000000000000001', 'hex');
const ALL_NODES_MAC = Buffer.from([0x33, 0x33, 0x00, 0x00, 0x00, 0x01]);

/** "aa:bb:cc:dd:ee:ff" → 6 bytes; InvalidArgumentError otherwise. */
export function macBytes(mac: string): Buffer {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) throw new InvalidArgumentError('mac', mac, 'must be a MAC address aa:bb:cc:dd:ee:ff');
  return Buffer.from(mac.replaceAll(':', ''), 'hex');
}

/** Gratuitous ARP for an IPv4 address: 60 bytes (42 + padding). */
export function garpFrame(mac: string, address: string): Buffer {
  const src = macBytes(mac);
  const ip = parseIPv4(address);
  if (ip === null) throw new InvalidArgumentError('address', address, 'must be an IPv4 address');
  const f = Buffer.alloc(GARP_FRAME_LEN);
  f.set(BROADCAST, 0);
  f.set(src, 6);
  f.writeUInt16BE(ETH_P_ARP, 12);
  const a = ETH_HLEN;
  f.writeUInt16BE(ARPHRD_ETHER, a);
  f.writeUInt16BE(ETH_P_IP, a + 2);
  f[a + 4] = 6;
  f[a + 5] = 4;
  f.writeUInt16BE(ARPOP_REQUEST, a + 6);
  f.set(src, a + 8); // sender MAC
  f.writeUInt32BE(ip, a + 14); // sender IP
  // target MAC stays 00:00:00:00:00:00 (as Linux's own arping -U and arp_notify send it)
  f.writeUInt32BE(ip, a + 24); // target IP
  return f;
}

/** The ICMPv6 checksum over the pseudo-header (RFC 8200 8.1) and the message. */
export function icmpv6Checksum(src: Buffer, dst: Buffer, icmp: Buffer): number {
  let sum = 0;
  const add16 = (b: Buffer): void => {
    for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
    if (b.length % 2 === 1) sum += b[b.length - 1]! << 8;
  };
  add16(src);
  add16(dst);
  sum += (icmp.length >>> 16) + (icmp.length & 0xffff);
  sum += IPPROTO_ICMPV6;
  add16(icmp);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  return c === 0 ? 0xffff : c;
}

export interface NaOptions {
  /** Set the Router flag (default true: the routers forward, and their kernels set it too). */
  router?: boolean;
}

/** Unsolicited Neighbor Advertisement for an IPv6 address, from it to ff02::1: 86 bytes. */
export function unsolicitedNaFrame(mac: string, address: string, o: NaOptions = {}): Buffer {
  const src = macBytes(mac);
  const ip = parseIPv6(address);
  if (ip === null) throw new InvalidArgumentError('address', address, 'must be an IPv6 address');
  const f = Buffer.alloc(NA_FRAME_LEN);
  f.set(ALL_NODES_MAC, 0);
  f.set(src, 6);
  f.writeUInt16BE(ETH_P_IPV6, 12);
  const h = ETH_HLEN;
  f.writeUInt32BE(0x60000000, h); // version 6, traffic class 0, flow label 0
  f.writeUInt16BE(NA_LEN, h + 4);
  f[h + 6] = IPPROTO_ICMPV6;
  f[h + 7] = ND_HOP_LIMIT;
  f.set(ip, h + 8);
  f.set(ALL_NODES, h + 24);
  const icmp = f.subarray(h + 40);
  icmp[0] = ND_NEIGHBOR_ADVERT;
  icmp[1] = 0;
  icmp[4] = NA_OVERRIDE | ((o.router ?? true) ? NA_ROUTER : 0);
  icmp.set(ip, 8);
  icmp[24] = ND_OPT_TARGET_LL_ADDR;
  icmp[25] = 1; // length in units of 8 bytes
  icmp.set(src, 26);
  icmp.writeUInt16BE(icmpv6Checksum(ip, ALL_NODES, icmp), 2);
  return f;
}

/** The announcement of one address: GARP for IPv4, unsolicited NA for IPv6. */
export function announceFrame(mac: string, address: string, o: NaOptions = {}): Buffer {
  if (parseIPv4(address) !== null) return garpFrame(mac, address);
  if (parseIPv6(address) !== null) return unsolicitedNaFrame(mac, address, o);
  throw new InvalidArgumentError('address', address, 'must be an IPv4 or IPv6 address');
}

export interface BurstOptions {
  /** Rounds (each sends every address once; default 3). */
  count?: number;
  /** Milliseconds between rounds (default 50). */
  spacingMs?: number;
}

export interface BurstResult {
  /** Frames the device took over all rounds. */
  sent: number;
  /** Frames refused (a full device queue, a link down); the errno of the last refusal. */
  failed: number;
  errno: number;
  /** performance.now() just before the first round's sendmmsg(). */
  firstAt: number;
}

export interface AnnouncerOptions {
  /** The interface's name (in the namespace of the netlink socket and of the calling thread). */
  dev: string;
  log?: Logger;
  naRouter?: boolean;
}

const ENODEV = 19;
const MAX_ADDRESSES = 1024;

/**
 * Announces floating addresses on one interface. Construct it in the namespace of the
 * interface (the raw socket and the netlink answer are that namespace's): the MAC and ifindex
 * are read over netlink once, here.
 */
export class Announcer {
  readonly dev: string;
  readonly ifindex: number;
  readonly mac: string;
  private readonly raw: RawFrames;
  private readonly log: Logger | undefined;
  private readonly naRouter: boolean;
  private refresh: NodeJS.Timeout | undefined;
  /** Later rounds of bursts under way: close() cancels them and settles their promises. */
  private readonly pending = new Map<NodeJS.Timeout, () => void>();

  constructor(nl: Netlink, o: AnnouncerOptions) {
    this.dev = o.dev;
    this.log = o.log;
    this.naRouter = o.naRouter ?? true;
    const [m] = nl.get(getLinkByName(o.dev));
    if (m === undefined) throw new NetlinkError(`ip link show dev ${o.dev} (RTM_GETLINK)`, ENODEV, 'no link in the answer');
    const link = decodeLink(m);
    if (link.mac === undefined || link.mac.length !== 17) throw new InvalidArgumentError('dev', o.dev, `has no Ethernet address (got ${link.mac ?? 'none'})`);
    this.ifindex = link.index;
    this.mac = link.mac;
    this.raw = new RawFrames({ ifindex: this.ifindex, batch: MAX_ADDRESSES, frameMax: Math.max(GARP_FRAME_LEN, NA_FRAME_LEN) });
  }

  /** The frames of one round, built once per burst. */
  frames(addresses: readonly string[]): Buffer[] {
    if (addresses.length > MAX_ADDRESSES) throw new InvalidArgumentError('addresses', addresses.length, `must be at most ${MAX_ADDRESSES} per interface`);
    return addresses.map((a) => announceFrame(this.mac, a, { router: this.naRouter }));
  }

  /** One round now: every address once, one sendmmsg(). */
  sendRound(frames: readonly Buffer[]): SendResult {
    return this.raw.sendFrames(frames);
  }

  /**
   * `count` rounds `spacingMs` apart; the first leaves before this returns its promise's first
   * tick (synchronously), the rest on timers. Resolves after the last round.
   */
  burst(addresses: readonly string[], o: BurstOptions = {}): Promise<BurstResult> {
    const count = o.count ?? 3;
    const spacingMs = o.spacingMs ?? 50;
    if (!Number.isInteger(count) || count < 1 || count > 100) throw new InvalidArgumentError('count', count, 'must be an integer 1..100');
    if (!Number.isFinite(spacingMs) || spacingMs < 0 || spacingMs > 60_000) throw new InvalidArgumentError('spacingMs', spacingMs, 'must be 0..60000 ms');
    const frames = this.frames(addresses);
    const result: BurstResult = { sent: 0, failed: 0, errno: 0, firstAt: performance.now() };
    const round = (): void => {
      const r = this.sendRound(frames);
      result.sent += r.sent;
      if (r.errno !== 0) {
        result.failed += frames.length - r.sent;
        result.errno = r.errno;
        this.log?.warn({ dev: this.dev, errno: r.errno, refused: frames.length - r.sent }, 'announcement frames refused');
      }
    };
    round();
    if (count === 1 || frames.length === 0) return Promise.resolve(result);
    return new Promise((resolve) => {
      let left = count - 1;
      const next = (): void => {
        const t = setTimeout(() => {
          this.pending.delete(t);
          round();
          left -= 1;
          if (left === 0) resolve(result);
          else next();
        }, spacingMs);
        this.pending.set(t, () => resolve(result));
      };
      next();
    });
  }

  /** Re-announces every `everyMs` (one round each) until stopRefresh() or close(). */
  startRefresh(addresses: readonly string[], everyMs: number): void {
    if (!Number.isFinite(everyMs) || everyMs < 10) throw new InvalidArgumentError('everyMs', everyMs, 'must be at least 10 ms');
    this.stopRefresh();
    const frames = this.frames(addresses);
    this.refresh = setInterval(() => {
      const r = this.sendRound(frames);
      if (r.errno !== 0) this.log?.warn({ dev: this.dev, errno: r.errno }, 'announcement refresh refused');
    }, everyMs);
    this.refresh.unref();
  }

  stopRefresh(): void {
    if (this.refresh !== undefined) clearInterval(this.refresh);
    this.refresh = undefined;
  }

  /** Stops the refresh and any burst's later rounds (their promises resolve with what went), closes the socket. */
  close(): void {
    this.stopRefresh();
    for (const [t, settle] of this.pending) {
      clearTimeout(t);
      settle();
    }
    this.pending.clear();
    this.raw.close();
  }
}
