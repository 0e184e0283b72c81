// SPDX-License-Identifier: Apache-2.0
// Client sessions for the fuzzer: templates aimed at every frontend of a test's services (SYN,
// the handshake's ACK, data, FIN, a RST in sequence, a blind RST, a datagram, a frame over the
// MTU, a SYN from a martian source), and a patcher that gives each copy the address, port and
// sequence number of one of a pool of clients, so the fuzz opens, carries and closes many real
// flows instead of one. Frontends that share a pool share clients: two VIPs reached from the same
// client address and port (what reply clobbering needs). Everything is drawn from the fuzzer's
// seeded stream, so replay() rebuilds any frame.

import { IPPROTO, type FrameSpec, type L4Spec } from './frames.js';
import { finish, pseudoSum, sum16 } from './frame-checksum.js';
import { parseIPv6 } from '../src/model/ip.js';
import type { FramePatcher, Prng } from './fuzz.js';

export type SessionRole = 'syn' | 'ack' | 'data' | 'fin' | 'rst' | 'rstBlind' | 'udp' | 'big' | 'martian';

export interface SessionFrontend {
  vip: string;
  port: number;
  proto: 'tcp' | 'udp';
  /** Frontends with the same pool draw their clients from one list. */
  pool: number;
}

export interface SessionTag {
  role: SessionRole;
  pool: number;
  v6: boolean;
  proto: 'tcp' | 'udp';
}

/**
 * Where sources come from. Clients are drawn from 198.51.100.0/24 and 2001:db8:2::/64 (the test
 * routes both via the client's link); the 'martian' templates take one of these instead: sources
 * a frame from outside may never open a flow with, per family, as text.
 */
export interface SourcePlan {
  martians4: string[];
  martians6: string[];
}

/** Payload of the 'big' frames: over a 1400-byte link once the headers are on. */
export const BIG_PAYLOAD = 1400;
const DATA_PAYLOAD = 64;
/** A blind RST's sequence number is this far from the one the client would send next. */
export const BLIND_OFFSET = 0x80000000;
const POOL_MAX = 2048;

/**
 * The ISN a session's real answers the client's SYN (ISN isn) with: its SYN-ACK (the oracle sends
 * it, testing the reply path) carries this seq, and the client's ACKs, data and FINs acknowledge
 * it (ack = serverIsn + 1), as a real client's do: that is what establishes a flow (tcpwin.h).
 */
export function serverIsn(isn: number): number {
  return (Math.imul(isn ^ 0x5eed5eed, 2654435761) ^ 0x13579bdf) >>> 0;
}

/** Templates for every frontend, in the order of the tags returned with them. */
export function sessionTemplates(fronts: SessionFrontend[]): { specs: FrameSpec[]; tags: SessionTag[] } {
  const specs: FrameSpec[] = [];
  const tags: SessionTag[] = [];
  for (const f of fronts) {
    const v6 = f.vip.includes(':');
    const src = v6 ? '2001:db8:2::1' : '198.51.100.1';
    const add = (role: SessionRole, l4: L4Spec, times = 1): void => {
      for (let i = 0; i < times; i++) {
        specs.push({ l3: v6 ? { kind: 'ipv6', src, dst: f.vip, l4 } : { kind: 'ipv4', src, dst: f.vip, id: 1, df: true, l4 } });
        tags.push({ role, pool: f.pool, v6, proto: f.proto });
      }
    };
    if (f.proto === 'tcp') {
      const tcp = (flags: string, payload?: Buffer, options?: Buffer): L4Spec => ({ kind: 'tcp', sport: 40000, dport: f.port, seq: 1, ack: flags.includes('ACK') ? 1 : 0, flags, payload, options });
      add('syn', tcp('SYN', undefined, Buffer.from('020405b4', 'hex')), 3);
      add('ack', tcp('ACK'));
      add('data', tcp('PSH,ACK', Buffer.alloc(DATA_PAYLOAD, 0x61)));
      add('fin', tcp('FIN,ACK'));
      add('rst', tcp('RST'));
      add('rstBlind', tcp('RST'), 2);
      add('big', tcp('ACK', Buffer.alloc(BIG_PAYLOAD, 0x62)));
      add('martian', tcp('SYN'));
    } else {
      const udp = (n: number): L4Spec => ({ kind: 'udp', sport: 40000, dport: f.port, payload: Buffer.alloc(n, 0x75) });
      add('udp', udp(16), 3);
      add('big', udp(BIG_PAYLOAD));
      add('martian', udp(16));
    }
  }
  return { specs, tags };
}

interface Client {
  src: Buffer;
  sport: number;
  isn: number;
  /** The sequence number the client sends next. */
  next: number;
}

/** The patcher: tags by template index (templates without a tag, e.g. the default ones, stay as they are). */
export class SessionPatcher implements FramePatcher {
  private readonly pools = new Map<string, Client[]>();
  private readonly martians4: Buffer[];
  private readonly martians6: Buffer[];

  constructor(private readonly tags: ReadonlyArray<SessionTag | undefined>, plan: SourcePlan) {
    this.martians4 = plan.martians4.map((a) => Buffer.from(a.split('.').map(Number)));
    this.martians6 = plan.martians6.map((a) => parseIPv6(a)!);
  }

  patch(template: number, b: Buffer, length: number, r: Prng): void {
    const tag = this.tags[template];
    if (tag === undefined) return;
    const l4 = tag.v6 ? 54 : 34;
    const srcOff = tag.v6 ? 22 : 26;
    let c: Client;
    if (tag.role === 'martian') {
      const list = tag.v6 ? this.martians6 : this.martians4;
      c = { src: list[r.below(list.length)]!, sport: 1024 + r.below(60000), isn: r.u32(), next: 0 };
    } else {
      c = this.client(tag, r, tag.role === 'syn' || tag.role === 'udp' ? 0.4 : 0.02);
    }
    b.set(c.src, srcOff);
    b.writeUInt16BE(c.sport, l4);
    if (tag.proto === 'tcp') {
      let seq = c.next;
      if (tag.role === 'syn' || tag.role === 'martian') {
        seq = c.isn;
        c.next = (c.isn + 1) >>> 0;
      } else if (tag.role === 'rstBlind') {
        seq = (c.next + BLIND_OFFSET + r.below(0x1000)) >>> 0;
      } else {
        c.next = (c.next + length - l4 - (b[l4 + 12]! >> 4) * 4 + (tag.role === 'fin' ? 1 : 0)) >>> 0;
      }
      b.writeUInt32BE(seq, l4 + 4);
      const ack = r.u32();
      // The client acknowledges the real's SYN-ACK; a forger's or a SYN's ack is anything.
      const acks = tag.role === 'ack' || tag.role === 'data' || tag.role === 'fin' || tag.role === 'big';
      b.writeUInt32BE(acks ? (serverIsn(c.isn) + 1) >>> 0 : ack, l4 + 8);
    }
    fixChecksums(b, length, tag.v6, tag.proto === 'tcp' ? IPPROTO.TCP : IPPROTO.UDP, l4);
  }

  /** A client of the tag's pool: a new one with probability pNew (or when there is none). */
  private client(tag: SessionTag, r: Prng, pNew: number): Client {
    const name = `${tag.pool}/${tag.v6 ? 6 : 4}`;
    let pool = this.pools.get(name);
    if (pool === undefined) this.pools.set(name, (pool = []));
    if (pool.length > 0 && !r.chance(pNew)) return pool[r.below(pool.length)]!;
    const src = tag.v6 ? Buffer.from(`20010db8000200000000${hex16(r.u32() & 0xffff)}${hex16(r.u32() & 0xffff)}${hex16(1 + r.below(0xfffe))}`, 'hex') : Buffer.from([198, 51, 100, 1 + r.below(254)]);
    const isn = r.u32();
    const c: Client = { src, sport: 1024 + r.below(60000), isn, next: (isn + 1) >>> 0 };
    if (pool.length < POOL_MAX) pool.push(c);
    else pool[r.below(POOL_MAX)] = c;
    return c;
  }
}

function hex16(n: number): string {
  return n.toString(16).padStart(4, '0');
}

/** Recomputes the IPv4 header checksum and the TCP/UDP checksum of a template copy (no IP options, no extension headers). */
function fixChecksums(b: Buffer, length: number, v6: boolean, proto: number, l4: number): void {
  if (!v6) {
    b.writeUInt16BE(0, 24);
    b.writeUInt16BE(finish(sum16(b, 14, 34)), 24);
  }
  const n = length - l4;
  const at = proto === IPPROTO.TCP ? l4 + 16 : l4 + 6;
  b.writeUInt16BE(0, at);
  const sum = finish(sum16(b, l4, length, pseudoSum(b, 14, v6, proto, n)));
  b.writeUInt16BE(proto === IPPROTO.UDP && sum === 0 ? 0xffff : sum, at);
}
