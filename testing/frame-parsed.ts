// SPDX-License-Identifier: Apache-2.0
// What parseFrame() returns. Bytes are lowercase hex strings and addresses are text, so two parsed
// frames compare with deepEqual and a difference prints readably. A header too short to hold its
// fixed part becomes `raw`; an L4 header cut short (as in the copy an ICMP error carries) keeps
// the fields its bytes cover, with `truncated: true`. checksumValid is null when it cannot be
// known: the data is cut short, or the packet is a fragment (the checksum covers the whole datagram).

export interface ParsedFrame {
  /** Frame length in bytes. */
  length: number;
  eth: { dst: string; src: string; type: number };
  l3: ParsedPacket | ParsedRaw | null;
  /** Bytes after the IP packet's stated length (Ethernet padding or junk), hex. */
  trailer: string;
}

export type ParsedPacket = ParsedIpv4 | ParsedIpv6;
export type ParsedL4 = ParsedTcp | ParsedUdp | ParsedIcmp | ParsedPacket | ParsedRaw;

export interface ParsedRaw {
  kind: 'raw';
  /** EtherType (as l3) or protocol number (as l4). */
  proto: number;
  /** Why these bytes were not parsed further, when it is not just an unknown protocol. */
  note?: string;
  data: string;
}

export interface ParsedIpv4 {
  kind: 'ipv4';
  version: number;
  ihl: number;
  tos: number;
  totalLength: number;
  id: number;
  /** The reserved ("evil") bit. */
  reserved: boolean;
  df: boolean;
  mf: boolean;
  /** In bytes. */
  fragOffset: number;
  ttl: number;
  proto: number;
  checksum: number;
  checksumValid: boolean;
  src: string;
  dst: string;
  options: string;
  /** Fewer bytes than totalLength were there. */
  truncated: boolean;
  l4: ParsedL4;
}

export interface ParsedIpv6Ext {
  kind: 'hop-by-hop' | 'dest-opts' | 'routing' | 'fragment';
  nextHeader: number;
  /** Header length in bytes. */
  length: number;
  /** hop-by-hop / dest-opts: the options area; routing: the type-specific data. */
  data?: string;
  routingType?: number;
  segmentsLeft?: number;
  offset?: number;
  more?: boolean;
  id?: number;
}

export interface ParsedIpv6 {
  kind: 'ipv6';
  version: number;
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  src: string;
  dst: string;
  ext: ParsedIpv6Ext[];
  truncated: boolean;
  l4: ParsedL4;
}

export interface ParsedTcp {
  kind: 'tcp';
  truncated: boolean;
  sport?: number;
  dport?: number;
  seq?: number;
  ack?: number;
  doff?: number;
  /** e.g. "SYN,ACK"; bits 8..11 of the offset word (reserved, NS) are in `reserved`. */
  flags?: string;
  reserved?: number;
  window?: number;
  checksum?: number;
  urgent?: number;
  options?: string;
  payload?: string;
  checksumValid: boolean | null;
}

export interface ParsedUdp {
  kind: 'udp';
  truncated: boolean;
  sport?: number;
  dport?: number;
  length?: number;
  checksum?: number;
  payload?: string;
  /** A zero checksum over IPv4 means "none" and counts as valid; over IPv6 it is invalid. */
  checksumValid: boolean | null;
}

export interface ParsedIcmp {
  kind: 'icmp' | 'icmpv6';
  truncated: boolean;
  type?: number;
  code?: number;
  checksum?: number;
  /** Echo messages. */
  id?: number;
  seq?: number;
  /** frag-needed: next-hop MTU; packet-too-big: MTU. */
  mtu?: number;
  /** The rest-of-header word of other messages. */
  rest?: number;
  payload?: string;
  /** Error messages: the offending packet as far as it was quoted. */
  original?: ParsedPacket | ParsedRaw;
  checksumValid: boolean | null;
}
