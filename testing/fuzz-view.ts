// SPDX-License-Identifier: Apache-2.0
// A fast, allocation-free look at a frame for the fuzz oracle: where the IP and transport headers
// are, judged exactly as bpf/parse.h judges them (what it accepts, what it calls a fragment or an
// over-long IPv6 extension chain), and whether the checksums verify. parseFrame() says the same in
// a comparable tree, but builds hex strings: too slow for a million frames.

import { pseudoSum, sum16, verifies } from './frame-checksum.js';

export const ETH_IP = 0x0800;
export const ETH_IP6 = 0x86dd;
const EXT_HOP = 0;
const EXT_ROUTING = 43;
const EXT_FRAGMENT = 44;
const EXT_DSTOPTS = 60;
/** bpf/parse.h XLVS_V6_EXT_MAX */
const V6_EXT_MAX = 3;

/** What parse_packet() makes of a frame whose IP header it accepts. */
export interface IpView {
  v6: boolean;
  /** Offset of the IP header (14), of its addresses, and of the transport header. */
  l3: number;
  src: number;
  dst: number;
  alen: 4 | 16;
  l4: number;
  /** Where the IP packet ends by its own length (within the frame: parse.h checks that). */
  end: number;
  proto: number;
  /** An IPv4 fragment or an IPv6 fragment header (p->frag). */
  frag: boolean;
  /** A fragment other than the first: no transport header (p->frag_later). */
  fragLater: boolean;
  extLong: boolean;
  /** An IPv6 routing header with segments left (p->rh_pending): proto is 43, nothing past it read. */
  rhPending: boolean;
  /** TCP/UDP header complete within the IP packet (parse_tcp/parse_udp: p->l4hdr set), so ports are there. */
  ports: boolean;
  ttl: number;
}

/**
 * The frame's IP header as parse_packet() sees it, or null when it returns -1 (the packet passes
 * untouched as broken). Line for line parse.h: every header past the IP header is bounded by the
 * frame and by the IP packet's own length (end); an IPv6 chain is walked XLVS_V6_EXT_MAX deep,
 * stopping at a fragment header (8 bytes, within end) or at a routing header with segments left.
 */
export function ipView(b: Buffer, len: number): IpView | null {
  if (len < 14) return null;
  const type = b.readUInt16BE(12);
  if (type === ETH_IP) {
    if (len < 34 || b[14]! >> 4 !== 4) return null;
    const hl = (b[14]! & 0x0f) * 4;
    if (hl < 20 || 14 + hl > len) return null;
    const tot = b.readUInt16BE(16);
    if (tot < hl || 14 + tot > len) return null;
    const end = 14 + tot;
    const proto = b[23]!;
    const fo = b.readUInt16BE(20);
    const frag = (fo & 0x3fff) !== 0;
    const fragLater = (fo & 0x1fff) !== 0;
    const l4 = 14 + hl;
    return { v6: false, l3: 14, src: 26, dst: 30, alen: 4, l4, end, proto, frag, fragLater, extLong: false, rhPending: false, ports: !fragLater && portsThere(b, end, l4, proto), ttl: b[22]! };
  }
  if (type !== ETH_IP6 || len < 54 || b[14]! >> 4 !== 6) return null;
  const end = 54 + b.readUInt16BE(18);
  if (end > len) return null;
  let next = b[20]!;
  let pos = 54;
  let frag = false;
  let fragLater = false;
  let rhPending = false;
  let extLong = false;
  let walked = false;
  for (let i = 0; i < V6_EXT_MAX; i++) {
    if (next === EXT_FRAGMENT) {
      // parse_ipv6_frag: 8 bytes within the packet; the walk stops after it.
      if (pos + 8 > end) return null;
      frag = true;
      fragLater = (b.readUInt16BE(pos + 2) & 0xfff8) !== 0;
      next = b[pos]!;
      pos += 8;
      walked = true;
      break;
    }
    if (next !== EXT_HOP && next !== EXT_ROUTING && next !== EXT_DSTOPTS) {
      walked = true;
      break;
    }
    if (pos + 4 > end) return null;
    if (next === EXT_ROUTING && b[pos + 3] !== 0) {
      rhPending = true;
      walked = true;
      break;
    }
    const hlen = (b[pos + 1]! + 1) * 8;
    next = b[pos]!;
    if (pos + hlen > end) return null;
    pos += hlen;
  }
  if (!walked && (next === EXT_HOP || next === EXT_ROUTING || next === EXT_DSTOPTS || next === EXT_FRAGMENT)) extLong = true;
  const proto = rhPending ? EXT_ROUTING : next;
  const ports = !fragLater && !extLong && !rhPending && portsThere(b, end, pos, proto);
  return { v6: true, l3: 14, src: 22, dst: 38, alen: 16, l4: pos, end, proto, frag, fragLater, extLong, rhPending, ports, ttl: b[21]! };
}

/** parse_tcp / parse_udp: the header lies within the IP packet (end: its own length, within the frame). */
function portsThere(b: Buffer, end: number, l4: number, proto: number): boolean {
  if (proto === 6) return l4 + 20 <= end && b[l4 + 12]! >> 4 >= 5 && l4 + (b[l4 + 12]! >> 4) * 4 <= end;
  if (proto === 17) return l4 + 8 <= end;
  return false;
}

/** The IPv4 header (by its ihl) sums right. */
export function ipv4HeaderOk(b: Buffer, l3: number, len: number): boolean {
  const hl = (b[l3]! & 0x0f) * 4;
  return hl >= 20 && l3 + hl <= len && verifies(sum16(b, l3, l3 + hl));
}

/**
 * The transport checksum of the IP packet at v verifies: true/false, or null when it cannot be
 * known from this frame (a fragment, a UDP length beyond the packet, another protocol).
 */
export function l4ChecksumOk(b: Buffer, v: IpView): boolean | null {
  if (v.frag || v.extLong || v.rhPending) return null;
  const n = v.end - v.l4;
  if (n < 0) return null;
  switch (v.proto) {
    case 6:
      if (n < 20) return null;
      return verifies(sum16(b, v.l4, v.end, pseudoSum(b, v.l3, v.v6, 6, n)));
    case 17: {
      if (n < 8) return null;
      if (!v.v6 && b.readUInt16BE(v.l4 + 6) === 0) return true;
      const ulen = b.readUInt16BE(v.l4 + 4);
      if (ulen < 8 || ulen > n) return null;
      return verifies(sum16(b, v.l4, v.l4 + ulen, pseudoSum(b, v.l3, v.v6, 17, ulen)));
    }
    case 1:
      return v.v6 || n < 8 ? null : verifies(sum16(b, v.l4, v.end));
    case 58:
      return !v.v6 || n < 8 ? null : verifies(sum16(b, v.l4, v.end, pseudoSum(b, v.l3, true, 58, n)));
    default:
      return null;
  }
}

/** Bytes a[ao, ao+n) equal b[bo, bo+n). */
export function sameBytes(a: Buffer, ao: number, b: Buffer, bo: number, n: number): boolean {
  // Buffer#compare does not type-check with Buffer arguments under this @types/node and TS 5.9.
  return ao + n <= a.length && bo + n <= b.length && a.compare(b as unknown as Uint8Array, bo, bo + n, ao, ao + n) === 0;
}
