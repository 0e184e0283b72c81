// SPDX-License-Identifier: Apache-2.0
// rtnetlink's vocabulary (linux/rtnetlink.h, neighbour.h, fib_rules.h, if_addr.h, if_link.h):
// message types, the family headers as koffi structs, the attribute numbers and flags the host
// modules use, and addresses as the kernel spells them (network-order bytes). Pure.

import koffi from 'koffi';
import { InvalidArgumentError } from '../errors.js';
import { formatIPv6, parseIPv4, parseIPv6 } from '../model/ip.js';

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

export const RTM_NEWLINK = 16;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;
export const RTM_NEWRULE = 32;
export const RTM_DELRULE = 33;
export const RTM_GETRULE = 34;

/** Message type names, for errors. */
export const RTM_NAMES: Record<number, string> = {
  16: 'RTM_NEWLINK', 18: 'RTM_GETLINK', 20: 'RTM_NEWADDR', 21: 'RTM_DELADDR', 22: 'RTM_GETADDR',
  24: 'RTM_NEWROUTE', 25: 'RTM_DELROUTE', 26: 'RTM_GETROUTE', 28: 'RTM_NEWNEIGH', 29: 'RTM_DELNEIGH',
  30: 'RTM_GETNEIGH', 32: 'RTM_NEWRULE', 33: 'RTM_DELRULE', 34: 'RTM_GETRULE',
};

export const ifinfomsg = koffi.struct('xlvs_ifinfomsg', {
  ifi_family: 'uint8_t', ifi_pad: 'uint8_t', ifi_type: 'uint16_t', ifi_index: 'int32_t', ifi_flags: 'uint32_t', ifi_change: 'uint32_t',
});
/** The link-layer address (the MAC of an Ethernet device). */
export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;

export const ifaddrmsg = koffi.struct('xlvs_ifaddrmsg', {
  ifa_family: 'uint8_t', ifa_prefixlen: 'uint8_t', ifa_flags: 'uint8_t', ifa_scope: 'uint8_t', ifa_index: 'uint32_t',
});
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
/** struct ifa_cacheinfo: preferred and valid lifetimes (seconds; 0xffffffff: forever), then two stamps. */
export const IFA_CACHEINFO = 6;
export const INFINITY_LIFE_TIME = 0xffffffff;
/** u32 flags: the header's ifa_flags holds only the low 8 bits. */
export const IFA_FLAGS = 8;
export const IFA_F_NODAD = 0x02;
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_PERMANENT = 0x80;

export const ndmsg = koffi.struct('xlvs_ndmsg', {
  ndm_family: 'uint8_t', ndm_pad1: 'uint8_t', ndm_pad2: 'uint16_t', ndm_ifindex: 'int32_t', ndm_state: 'uint16_t', ndm_flags: 'uint8_t', ndm_type: 'uint8_t',
});
export const NDA_DST = 1;
export const NDA_LLADDR = 2;
/** Dump filter: only this device's entries. */
export const NDA_IFINDEX = 8;
/** u32: neighbour flags past the 8 bits of ndm_flags (Linux 5.16+). */
export const NDA_FLAGS_EXT = 15;
/** ndm_flags: "use" the entry now (resolve it as if a packet wanted it). */
export const NTF_USE = 0x01;
/** NDA_FLAGS_EXT: the kernel resolves the entry by itself and keeps re-probing it. */
export const NTF_EXT_MANAGED = 0x01;
export const NUD_NONE = 0x00;
export const NUD_PERMANENT = 0x80;
/** NUD state bits in the order ip(8) prints them. */
export const NUD_STATES: ReadonlyArray<readonly [number, string]> = [
  [0x01, 'INCOMPLETE'], [0x02, 'REACHABLE'], [0x04, 'STALE'], [0x08, 'DELAY'],
  [0x10, 'PROBE'], [0x20, 'FAILED'], [0x40, 'NOARP'], [0x80, 'PERMANENT'],
];

export const rtmsg = koffi.struct('xlvs_rtmsg', {
  rtm_family: 'uint8_t', rtm_dst_len: 'uint8_t', rtm_src_len: 'uint8_t', rtm_tos: 'uint8_t', rtm_table: 'uint8_t',
  rtm_protocol: 'uint8_t', rtm_scope: 'uint8_t', rtm_type: 'uint8_t', rtm_flags: 'uint32_t',
});
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PREFSRC = 7;
export const RTA_TABLE = 15;
/** A gateway of the other family (IPv4 route via an IPv6 next hop): family + address. */
export const RTA_VIA = 18;
/** Table ids above 255 do not fit rtm_table: it says RT_TABLE_COMPAT (dumps) or UNSPEC, RTA_TABLE holds them. */
export const RT_TABLE_UNSPEC = 0;
export const RT_TABLE_MAIN = 254;
export const RTPROT_BOOT = 3;
export const RT_SCOPE_UNIVERSE = 0;
/** Scopes of an address: reachable only on its link (fe80::/10), only inside the host (127/8, ::1). */
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RTN_UNICAST = 1;
/** rtm_flags: the gateway is on the link, whether or not a route says so. */
export const RTNH_F_ONLINK = 0x4;
/** RTM_GETROUTE: answer with the route entry that matched (as ip route get). */
export const RTM_F_LOOKUP_TABLE = 0x1000;

export const fibRuleHdr = koffi.struct('xlvs_fib_rule_hdr', {
  family: 'uint8_t', dst_len: 'uint8_t', src_len: 'uint8_t', tos: 'uint8_t', table: 'uint8_t',
  res1: 'uint8_t', res2: 'uint8_t', action: 'uint8_t', flags: 'uint32_t',
});
export const FRA_PRIORITY = 6;
export const FRA_FWMARK = 10;
export const FRA_TABLE = 15;
export const FRA_FWMASK = 16;
export const FR_ACT_UNSPEC = 0;
export const FR_ACT_TO_TBL = 1;

export type IpFamily = 4 | 6;

export const afOf = (family: IpFamily): number => (family === 4 ? AF_INET : AF_INET6);

/** An address in the kernel's bytes (4 or 16, network order); `field` names it in the error. */
export function addressBytes(address: string, field = 'address'): { family: IpFamily; bytes: Buffer } {
  const v4 = parseIPv4(address);
  if (v4 !== null) {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(v4);
    return { family: 4, bytes };
  }
  const v6 = parseIPv6(address);
  if (v6 !== null) return { family: 6, bytes: v6 };
  throw new InvalidArgumentError(field, address, 'must be an IPv4 or IPv6 address');
}

/** The text of 4 or 16 address bytes (IPv6 per RFC 5952, as the model spells it). */
export function addressText(b: Buffer): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length === 16) return formatIPv6(b);
  throw new RangeError(`an address has 4 or 16 bytes, got ${b.length}`);
}

/** A MAC address's text, lower case with colons, as ip(8) prints it. */
export const macText = (b: Buffer): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
