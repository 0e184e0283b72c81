// SPDX-License-Identifier: Apache-2.0
// bytes -> ParsedFrame (see frame-parsed.ts). Never throws on bad input: whatever cannot be
// parsed is reported as raw bytes with a note, so the parser can look at any output of a fuzzed
// program. Checksums are verified independently of what the builder wrote.

import { formatIPv4, formatIPv6 } from '../src/model/ip.js';
import { pseudoSum, sum16, verifies } from './frame-checksum.js';
import { ETH_P_IP, ETH_P_IPV6, ICMP, ICMPV6, IPPROTO, TCP_FLAGS } from './frame-spec.js';
import type {
  ParsedFrame, ParsedIcmp, ParsedIpv4, ParsedIpv6, ParsedIpv6Ext, ParsedL4, ParsedPacket, ParsedRaw, ParsedTcp, ParsedUdp,
} from './frame-parsed.js';

const hex = (b: Buffer, start: number, end: number): string => b.toString("hex", start, Math.max(start, end));
const macText = (b: Buffer, off: number): string => hex(b, off, off + 6).replace(/(..)(?!$)/g, '$1:');
const u16 = (b: Buffer, off: number): number => (b[off]! << 8) | b[off + 1]!;
const u32 = (b: Buffer, off: number): number => u16(b, off) * 0x10000 + u16(b, off + 2);

export function parseFrame(b: Buffer): ParsedFrame {
  if (b.length < 14) {
    return { length: b.length, eth: { dst: '', src: '', type: -1 }, l3: { kind: 'raw', proto: -1, note: 'shorter than an Ethernet header', data: hex(b, 0, b.length) }, trailer: '' };
  }
  const type = u16(b, 12);
  const eth = { dst: macText(b, 0), src: macText(b, 6), type };
  if (type !== ETH_P_IP && type !== ETH_P_IPV6) return { length: b.length, eth, l3: { kind: 'raw', proto: type, data: hex(b, 14, b.length) }, trailer: '' };
  const { packet, end } = parsePacket(b, 14, b.length, type === ETH_P_IPV6);
  return { length: b.length, eth, l3: packet, trailer: hex(b, end, b.length) };
}

/** Parses an IP packet in b[off, limit); `end` is where its stated length ends (at most limit). */
export function parsePacket(b: Buffer, off: number, limit: number, v6: boolean): { packet: ParsedPacket | ParsedRaw; end: number } {
  return v6 ? parseIpv6(b, off, limit) : parseIpv4(b, off, limit);
}

function raw(proto: number, b: Buffer, off: number, end: number, note?: string): ParsedRaw {
  return note === undefined ? { kind: 'raw', proto, data: hex(b, off, end) } : { kind: 'raw', proto, note, data: hex(b, off, end) };
}

function parseIpv4(b: Buffer, off: number, limit: number): { packet: ParsedIpv4 | ParsedRaw; end: number } {
  if (limit - off < 20) return { packet: raw(ETH_P_IP, b, off, limit, 'truncated ipv4 header'), end: limit };
  const version = b[off]! >> 4;
  const ihl = b[off]! & 0x0f;
  const hl = ihl * 4;
  if (version !== 4 || hl < 20 || off + hl > limit) return { packet: raw(ETH_P_IP, b, off, limit, `bad ipv4 header (version ${version}, ihl ${ihl})`), end: limit };
  const totalLength = u16(b, off + 2);
  const frag = u16(b, off + 6);
  const fragOffset = (frag & 0x1fff) * 8;
  const mf = (frag & 0x2000) !== 0;
  const proto = b[off + 9]!;
  // Where the packet really ends: its stated length, or the bytes we have when fewer.
  const stated = Math.max(off + hl, off + totalLength);
  const end = Math.min(stated, limit);
  const truncated = stated > limit;
  const ctx: L4Ctx = { ipOff: off, v6: false, fragment: mf || fragOffset > 0, truncated };
  const l4 = fragOffset > 0 ? raw(proto, b, off + hl, end, `fragment at offset ${fragOffset}`) : parseL4(b, off + hl, end, proto, ctx);
  const packet: ParsedIpv4 = {
    kind: 'ipv4', version, ihl, tos: b[off + 1]!, totalLength, id: u16(b, off + 4),
    reserved: (frag & 0x8000) !== 0, df: (frag & 0x4000) !== 0, mf, fragOffset,
    ttl: b[off + 8]!, proto, checksum: u16(b, off + 10), checksumValid: verifies(sum16(b, off, off + hl)),
    src: formatIPv4(u32(b, off + 12)), dst: formatIPv4(u32(b, off + 16)), options: hex(b, off + 20, off + hl),
    truncated, l4,
  };
  return { packet, end };
}

const EXT_KIND: Record<number, ParsedIpv6Ext['kind']> = {
  [IPPROTO.HOPOPTS]: 'hop-by-hop', [IPPROTO.ROUTING]: 'routing', [IPPROTO.FRAGMENT]: 'fragment', [IPPROTO.DSTOPTS]: 'dest-opts',
};

function parseIpv6(b: Buffer, off: number, limit: number): { packet: ParsedIpv6 | ParsedRaw; end: number } {
  if (limit - off < 40) return { packet: raw(ETH_P_IPV6, b, off, limit, 'truncated ipv6 header'), end: limit };
  const w = u32(b, off);
  const version = w >>> 28;
  if (version !== 6) return { packet: raw(ETH_P_IPV6, b, off, limit, `bad ipv6 header (version ${version})`), end: limit };
  const payloadLength = u16(b, off + 4);
  const stated = off + 40 + payloadLength;
  const end = Math.min(stated, limit);
  const ext: ParsedIpv6Ext[] = [];
  let next = b[off + 6]!;
  let pos = off + 40;
  let fragment = false;
  let l4: ParsedL4 | undefined;
  for (let kind = EXT_KIND[next]; kind !== undefined; kind = EXT_KIND[next]) {
    const len = kind === 'fragment' ? 8 : pos + 2 <= end ? (b[pos + 1]! + 1) * 8 : 8;
    if (pos + len > end) {
      l4 = raw(next, b, pos, end, `truncated ${kind} header`);
      break;
    }
    const e: ParsedIpv6Ext = { kind, nextHeader: b[pos]!, length: len };
    if (kind === 'fragment') {
      const f = u16(b, pos + 2);
      e.offset = f & 0xfff8;
      e.more = (f & 1) !== 0;
      e.id = u32(b, pos + 4);
      fragment = true;
    } else if (kind === 'routing') {
      e.routingType = b[pos + 2]!;
      e.segmentsLeft = b[pos + 3]!;
      e.data = hex(b, pos + 4, pos + len);
    } else {
      e.data = hex(b, pos + 2, pos + len);
    }
    ext.push(e);
    next = e.nextHeader;
    pos += len;
    if (kind === 'fragment' && e.offset! > 0) {
      l4 = raw(next, b, pos, end, `fragment at offset ${e.offset}`);
      break;
    }
  }
  const ctx: L4Ctx = { ipOff: off, v6: true, fragment, truncated: stated > limit };
  l4 ??= parseL4(b, pos, end, next, ctx);
  const packet: ParsedIpv6 = {
    kind: 'ipv6', version, trafficClass: (w >>> 20) & 0xff, flowLabel: w & 0xfffff, payloadLength, nextHeader: b[off + 6]!,
    hopLimit: b[off + 7]!, src: formatIPv6(b.subarray(off + 8, off + 24)), dst: formatIPv6(b.subarray(off + 24, off + 40)), ext, truncated: stated > limit, l4,
  };
  return { packet, end };
}

interface L4Ctx {
  ipOff: number;
  v6: boolean;
  /** Part of a fragmented datagram: the L4 checksum cannot be checked from this piece. */
  fragment: boolean;
  /** The IP packet is cut short of its stated length. */
  truncated: boolean;
}

function parseL4(b: Buffer, off: number, end: number, proto: number, ctx: L4Ctx): ParsedL4 {
  switch (proto) {
    case IPPROTO.TCP: return parseTcp(b, off, end, ctx);
    case IPPROTO.UDP: return parseUdp(b, off, end, ctx);
    case IPPROTO.ICMP:
      return ctx.v6 ? raw(proto, b, off, end) : parseIcmp(b, off, end, ctx);
    case IPPROTO.ICMPV6:
      return ctx.v6 ? parseIcmp(b, off, end, ctx) : raw(proto, b, off, end);
    case IPPROTO.IPIP: return parsePacket(b, off, end, false).packet;
    case IPPROTO.IPV6: return parsePacket(b, off, end, true).packet;
    default: return raw(proto, b, off, end);
  }
}

/** Checksum over [off, end) plus the pseudo-header, or null when it cannot be known. */
function l4Valid(b: Buffer, off: number, end: number, proto: number, ctx: L4Ctx, pseudo: boolean): boolean | null {
  if (ctx.fragment || ctx.truncated) return null;
  const base = pseudo ? pseudoSum(b, ctx.ipOff, ctx.v6, proto, end - off) : 0;
  return verifies(sum16(b, off, end, base));
}

function parseTcp(b: Buffer, off: number, end: number, ctx: L4Ctx): ParsedTcp {
  const have = end - off;
  const t: ParsedTcp = { kind: 'tcp', truncated: have < 20, checksumValid: null };
  if (have >= 2) t.sport = u16(b, off);
  if (have >= 4) t.dport = u16(b, off + 2);
  if (have >= 8) t.seq = u32(b, off + 4);
  if (have >= 12) t.ack = u32(b, off + 8);
  if (have >= 14) {
    t.doff = b[off + 12]! >> 4;
    t.reserved = b[off + 12]! & 0x0f;
    t.flags = TCP_FLAGS.filter((_, i) => (b[off + 13]! >> i) & 1).join(',');
  }
  if (have >= 16) t.window = u16(b, off + 14);
  if (have >= 18) t.checksum = u16(b, off + 16);
  if (have >= 20) {
    t.urgent = u16(b, off + 18);
    const hl = Math.min(Math.max(20, t.doff! * 4), have);
    if (t.doff! < 5 || t.doff! * 4 > have) t.truncated = true;
    t.options = hex(b, off + 20, off + hl);
    t.payload = hex(b, off + hl, end);
    t.checksumValid = l4Valid(b, off, end, IPPROTO.TCP, ctx, true);
  }
  return t;
}

function parseUdp(b: Buffer, off: number, end: number, ctx: L4Ctx): ParsedUdp {
  const have = end - off;
  const u: ParsedUdp = { kind: 'udp', truncated: have < 8, checksumValid: null };
  if (have >= 2) u.sport = u16(b, off);
  if (have >= 4) u.dport = u16(b, off + 2);
  if (have >= 6) u.length = u16(b, off + 4);
  if (have >= 8) {
    u.checksum = u16(b, off + 6);
    u.payload = hex(b, off + 8, end);
    if (u.checksum === 0 && !ctx.v6) u.checksumValid = true;
    else if (u.length! < 8 || u.length! > have) u.checksumValid = ctx.truncated || ctx.fragment ? null : false;
    else u.checksumValid = l4Valid(b, off, off + u.length!, IPPROTO.UDP, ctx, true);
  }
  return u;
}

function isError(v6: boolean, type: number): boolean {
  return v6 ? type >= 1 && type <= 4 : type === ICMP.DEST_UNREACH || type === ICMP.TIME_EXCEEDED || type === ICMP.PARAM_PROBLEM || type === 4 || type === 5;
}

function parseIcmp(b: Buffer, off: number, end: number, ctx: L4Ctx): ParsedIcmp {
  const have = end - off;
  const m: ParsedIcmp = { kind: ctx.v6 ? 'icmpv6' : 'icmp', truncated: have < 8, checksumValid: null };
  if (have >= 1) m.type = b[off]!;
  if (have >= 2) m.code = b[off + 1]!;
  if (have >= 4) m.checksum = u16(b, off + 2);
  if (have < 8) return m;
  const type = m.type!;
  const echo = ctx.v6 ? type === ICMPV6.ECHO_REQUEST || type === ICMPV6.ECHO_REPLY : type === ICMP.ECHO_REQUEST || type === ICMP.ECHO_REPLY;
  if (echo) {
    m.id = u16(b, off + 4);
    m.seq = u16(b, off + 6);
  } else if (ctx.v6 && type === ICMPV6.PACKET_TOO_BIG) {
    m.mtu = u32(b, off + 4);
  } else if (!ctx.v6 && type === ICMP.DEST_UNREACH && m.code === 4) {
    m.mtu = u16(b, off + 6);
    m.rest = u16(b, off + 4);
  } else {
    m.rest = u32(b, off + 4);
  }
  if (isError(ctx.v6, type)) m.original = parsePacket(b, off + 8, end, ctx.v6).packet;
  else m.payload = hex(b, off + 8, end);
  m.checksumValid = l4Valid(b, off, end, IPPROTO.ICMPV6, ctx, ctx.v6);
  return m;
}
