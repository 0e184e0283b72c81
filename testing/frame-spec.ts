// SPDX-License-Identifier: Apache-2.0
// What a test writes to describe a frame: Ethernet carrying IPv4 or IPv6 (or raw bytes), carrying
// TCP, UDP, ICMP, ICMPv6, another IP packet (encapsulation) or raw bytes. Every field has a sane
// default; fields marked "override" exist to build broken frames on purpose (wrong lengths and
// checksums) and are computed correctly when left out.

export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_ARP = 0x0806;

export const IPPROTO = { HOPOPTS: 0, ICMP: 1, IPIP: 4, TCP: 6, UDP: 17, IPV6: 41, ROUTING: 43, FRAGMENT: 44, ICMPV6: 58, NONE: 59, DSTOPTS: 60 } as const;

export const ICMP = { ECHO_REPLY: 0, DEST_UNREACH: 3, ECHO_REQUEST: 8, TIME_EXCEEDED: 11, PARAM_PROBLEM: 12 } as const;
/** ICMP dest-unreachable codes used by tests. */
export const ICMP_CODE = { NET_UNREACH: 0, HOST_UNREACH: 1, PORT_UNREACH: 3, FRAG_NEEDED: 4 } as const;
export const ICMPV6 = { DEST_UNREACH: 1, PACKET_TOO_BIG: 2, TIME_EXCEEDED: 3, PARAM_PROBLEM: 4, ECHO_REQUEST: 128, ECHO_REPLY: 129 } as const;

/** TCP flag names, low bit first; a spec or a parsed frame writes flags as e.g. "SYN,ACK". */
export const TCP_FLAGS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'] as const;

export interface EthSpec {
  dst?: string; // default 02:00:00:00:00:02
  src?: string; // default 02:00:00:00:00:01
  /** override: the EtherType (default from the payload) */
  type?: number;
}

export interface FrameSpec {
  eth?: EthSpec;
  l3: PacketSpec | RawSpec;
  /** Bytes after the IP packet (Ethernet padding or junk). */
  trailer?: Buffer;
}

export type PacketSpec = Ipv4Spec | Ipv6Spec;

export interface Ipv4Spec {
  kind: 'ipv4';
  src: string;
  dst: string;
  tos?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  fragOffset?: number;
  ttl?: number; // default 64
  /** IP options, a multiple of 4 bytes (pad them yourself: that is part of what a test checks). */
  options?: Buffer;
  l4: L4Spec;
  /** override: protocol number (default from l4) */
  proto?: number;
  /** override: header length in 32-bit words */
  ihl?: number;
  /** override */
  totalLength?: number;
  /** override */
  checksum?: number;
}

export type Ipv6Ext =
  | { kind: 'hop-by-hop'; options?: Buffer }
  | { kind: 'dest-opts'; options?: Buffer }
  | { kind: 'routing'; routingType?: number; segmentsLeft?: number; data?: Buffer }
  | { kind: 'fragment'; offset?: number; more?: boolean; id?: number };

export interface Ipv6Spec {
  kind: 'ipv6';
  src: string;
  dst: string;
  trafficClass?: number;
  flowLabel?: number;
  hopLimit?: number; // default 64
  /** Extension headers in wire order; options are padded to 8 bytes with PadN. */
  ext?: Ipv6Ext[];
  l4: L4Spec;
  /** override: the first Next Header (default from ext / l4) */
  nextHeader?: number;
  /** override */
  payloadLength?: number;
}

export interface TcpSpec {
  kind: 'tcp';
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  /** "SYN", "SYN,ACK", "" ... or the raw flags byte. Default "ACK". */
  flags?: string | number;
  window?: number; // default 65535
  urgent?: number;
  /** TCP options, a multiple of 4 bytes. */
  options?: Buffer;
  payload?: Buffer;
  /** override: data offset in 32-bit words */
  doff?: number;
  /** override */
  checksum?: number;
}

export interface UdpSpec {
  kind: 'udp';
  sport: number;
  dport: number;
  payload?: Buffer;
  /** override; 'zero' sends no checksum (IPv4 only, RFC 768) */
  checksum?: number | 'zero';
  /** override */
  length?: number;
}

/**
 * ICMP or ICMPv6. Echo messages use id/seq/payload. Error messages carry `original`: the
 * offending packet, built in full (with its own checksums) and cut to `originalLength` bytes
 * (default: its IP header + 8 bytes for ICMP, the whole packet for ICMPv6). `mtu` is the
 * next-hop MTU of a frag-needed (low 16 bits of the rest-of-header word) or the MTU of a
 * packet-too-big (all 32 bits); `rest` sets that word directly for other messages.
 */
export interface IcmpSpec {
  kind: 'icmp' | 'icmpv6';
  type: number;
  code?: number;
  id?: number;
  seq?: number;
  mtu?: number;
  rest?: number;
  payload?: Buffer;
  original?: PacketSpec;
  originalLength?: number;
  /** override */
  checksum?: number;
}

export interface RawSpec {
  kind: 'raw';
  /** The protocol number (as l4) or EtherType (as l3) announced for these bytes. */
  proto: number;
  data: Buffer;
}

export type L4Spec = TcpSpec | UdpSpec | IcmpSpec | PacketSpec | RawSpec;
