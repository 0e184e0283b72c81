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
  frag: boolean;
  extLong: boolean;
  /** TCP/UDP header complete within the frame (parse_tcp: doff >= 5), so ports are there. */
  ports: boolean;
  ttl: number;
}

/** The frame's IP header as parse_packet() sees it, or null when it passes it untouched as broken. */
export function ipView(b: Buffer, len: number): IpView | null {
  if (len < 14) return null;
  const type = b.readUInt16BE(12);
  if (type === ETH_IP) {
    if (len < 34 || b[14]! >> 4 !== 4) return null;
    const hl = (b[14]! & 0x0f) * 4;
    if (hl < 20 || 14 + hl > len) return null;
    const tot = b.readUInt16BE(16);
    if (tot < hl || 14 + tot > len) return null;
    const proto = b[23]!;
    const frag = (b.readUInt16BE(20) & 0x3fff) !== 0;
    const l4 = 14 + hl;
    return { v6: false, l3: 14, src: 26, dst: 30, alen: 4, l4, end: 14 + tot, proto, frag, extLong: false, ports: !frag && portsThere(b, len, l4, proto), ttl: b[22]! };
  }
  if (type !== ETH_IP6 || len < 54 || b[14]! >> 4 !== 6) return null;
  const end = 54 + b.readUInt16BE(18);
  if (end > len) return null;
  let next = b[20]!;
  let pos = 54;
  let frag = false;
  let i = 0;
  for (; i < V6_EXT_MAX; i++) {
    if (next === EXT_FRAGMENT) {
      frag = true;
      break;
    }
    if (next !== EXT_HOP && next !== EXT_ROUTING && next !== EXT_DSTOPTS) break;
    if (pos + 2 > len) return null;
    const hlen = (b[pos + 1]! + 1) * 8;
    next = b[pos]!;
    if (pos + hlen > len) return null;
    pos += hlen;
  }
  const extLong = !frag && i === V6_EXT_MAX && (next === EXT_HOP || next === EXT_ROUTING || next === EXT_DSTOPTS || next === EXT_FRAGMENT);
  return { v6: true, l3: 14, src: 22, dst: 38, alen: 16, l4: pos, end, proto: next, frag, extLong, ports: !frag && !extLong && portsThere(b, len, pos, next), ttl: b[21]! };
}

/** parse_tcp / parse_udp: the header lies within the frame (not the IP length: parse.h reads to data_end). */
function portsThere(b: Buffer, len: number, l4: number, proto: number): boolean {
  if (proto === 6) return l4 + 20 <= len && b[l4 + 12]! >> 4 >= 5;
  if (proto === 17) return l4 + 8 <= len;
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
  if (v.frag || v.extLong) return null;
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
