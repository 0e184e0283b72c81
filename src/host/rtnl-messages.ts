// SPDX-License-Identifier: Apache-2.0
// The rtnetlink requests the host modules send and the replies they read, pure: each builder
// returns a Request (named in ip(8)'s words for errors) and each decoder one object of a reply.
// Requests mirror what iproute2 6.1 sends for the same command (checked with strace), so the
// kernel treats ours exactly as it treats `ip`'s. NLM_F_REQUEST/ACK/DUMP are added by netlink.ts.

import koffi from 'koffi';
import { InvalidArgumentError } from '../errors.js';
import {
  attrsAfter, attr, copyBytes, cString, decodeStruct, encodeStruct, u32Of,
  NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, type Attr, type Message, type Request,
} from './netlink-codec.js';
import {
  addressBytes, addressText, afOf, macText, ifaddrmsg, ifinfomsg, ndmsg, rtmsg, fibRuleHdr,
  AF_INET, AF_UNSPEC, FR_ACT_TO_TBL, FR_ACT_UNSPEC, FRA_FWMARK, FRA_FWMASK, FRA_PRIORITY, FRA_TABLE,
  IFA_ADDRESS, IFA_CACHEINFO, IFA_F_NODAD, IFLA_ADDRESS, INFINITY_LIFE_TIME, IFA_FLAGS, IFA_LABEL, IFA_LOCAL, IFLA_IFNAME, NDA_DST, NDA_FLAGS_EXT, NDA_IFINDEX,
  NDA_LLADDR, NTF_EXT_MANAGED, NTF_USE, NUD_NONE, NUD_PERMANENT, NUD_STATES, RT_SCOPE_UNIVERSE, RT_TABLE_UNSPEC,
  RTA_DST, RTA_GATEWAY, RTA_OIF, RTA_PREFSRC, RTA_TABLE, RTA_VIA, RTM_DELADDR, RTM_DELNEIGH, RTM_DELROUTE, RTM_DELRULE,
  RTM_F_LOOKUP_TABLE, RTM_GETADDR, RTM_GETLINK, RTM_GETNEIGH, RTM_GETROUTE, RTM_GETRULE, RTM_NEWADDR, RTM_NEWNEIGH,
  RTM_NEWROUTE, RTM_NEWRULE, RTN_UNICAST, RTNH_F_ONLINK, RTPROT_BOOT, type IpFamily,
} from './rtnl-codec.js';

/** A device as the requests name it: its index, and its name for the error messages. */
export interface Dev {
  index: number;
  name: string;
}

// ---- links ----

export interface LinkRow {
  index: number;
  name: string;
  /** The link-layer address (lower case, colons) when the device has one. */
  mac?: string;
}

export const getLinkByName = (name: string): Request => ({
  what: `ip link show dev ${name}`, type: RTM_GETLINK, flags: 0,
  header: encodeStruct(ifinfomsg, { ifi_family: AF_UNSPEC, ifi_index: 0 }), attrs: [attr.str(IFLA_IFNAME, name)],
});

export const getLinkByIndex = (index: number): Request => ({
  what: `ip link show (ifindex ${index})`, type: RTM_GETLINK, flags: 0, header: encodeStruct(ifinfomsg, { ifi_family: AF_UNSPEC, ifi_index: index }),
});

export function decodeLink(m: Message): LinkRow {
  const h = decodeStruct<{ ifi_index: number }>(ifinfomsg, m.payload, 0, 'ifinfomsg');
  const attrs = attrsAfter(m.payload, koffi.sizeof(ifinfomsg));
  const name = attrs.get(IFLA_IFNAME);
  const mac = attrs.get(IFLA_ADDRESS);
  return { index: h.ifi_index, name: name === undefined ? '' : cString(name), ...(mac !== undefined && mac.length > 0 ? { mac: macText(mac) } : {}) };
}

// ---- neighbours ----

export interface NeighbourRow {
  family: IpFamily;
  ifindex: number;
  address: string;
  lladdr?: string;
  /** NUD state bits, and their names as ip(8) prints them (REACHABLE, FAILED, ...). */
  state: number;
  states: string[];
  /** ndm_flags, and NDA_FLAGS_EXT (0 when absent). */
  flags: number;
  extFlags: number;
  managed: boolean;
}

/** `ip neigh replace ADDR dev DEV managed [use]`: no lladdr, NUD_NONE; the kernel resolves it. */
export function replaceManagedNeighbour(address: string, dev: Dev, use: boolean): Request {
  const a = addressBytes(address);
  return {
    what: `ip neigh replace ${address} dev ${dev.name} managed${use ? ' use' : ''}`, type: RTM_NEWNEIGH, flags: NLM_F_CREATE | NLM_F_REPLACE,
    header: encodeStruct(ndmsg, { ndm_family: afOf(a.family), ndm_ifindex: dev.index, ndm_state: NUD_NONE, ndm_flags: use ? NTF_USE : 0, ndm_type: 0 }),
    attrs: [attr.bytes(NDA_DST, a.bytes), attr.u32(NDA_FLAGS_EXT, NTF_EXT_MANAGED)],
  };
}

/**
 * `ip neigh replace ADDR dev DEV nud none use`: asks the kernel to resolve ADDR now, as its own
 * traffic would (an entry is created if missing; a FAILED or STALE one is probed). The entry
 * stays an ordinary one: the kernel ages and collects it as it does any other.
 */
export function useNeighbour(address: string, dev: Dev): Request {
  const a = addressBytes(address);
  return {
    what: `ip neigh replace ${address} dev ${dev.name} nud none use`, type: RTM_NEWNEIGH, flags: NLM_F_CREATE | NLM_F_REPLACE,
    header: encodeStruct(ndmsg, { ndm_family: afOf(a.family), ndm_ifindex: dev.index, ndm_state: NUD_NONE, ndm_flags: NTF_USE, ndm_type: 0 }),
    attrs: [attr.bytes(NDA_DST, a.bytes)],
  };
}

/** `ip neigh get ADDR dev DEV`: the one entry; the kernel answers ENOENT when there is none. */
export function getNeighbour(address: string, dev: Dev): Request {
  const a = addressBytes(address);
  return {
    what: `ip neigh get ${address} dev ${dev.name}`, type: RTM_GETNEIGH, flags: 0,
    header: encodeStruct(ndmsg, { ndm_family: afOf(a.family), ndm_ifindex: dev.index, ndm_state: NUD_NONE, ndm_flags: 0, ndm_type: 0 }),
    attrs: [attr.bytes(NDA_DST, a.bytes)],
  };
}

/** `ip neigh del ADDR dev DEV` (the state is ignored by the kernel; ip sends PERMANENT). */
export function deleteNeighbour(address: string, dev: Dev): Request {
  const a = addressBytes(address);
  return {
    what: `ip neigh del ${address} dev ${dev.name}`, type: RTM_DELNEIGH, flags: 0,
    header: encodeStruct(ndmsg, { ndm_family: afOf(a.family), ndm_ifindex: dev.index, ndm_state: NUD_PERMANENT, ndm_flags: 0, ndm_type: 0 }),
    attrs: [attr.bytes(NDA_DST, a.bytes)],
  };
}

/** A dump of one device's neighbours of one family (the kernel filters: strict checking). */
export const dumpNeighbours = (family: IpFamily, dev: Dev): Request => ({
  what: `ip -${family} neigh show dev ${dev.name}`, type: RTM_GETNEIGH, flags: 0,
  header: encodeStruct(ndmsg, { ndm_family: afOf(family), ndm_ifindex: 0, ndm_state: 0, ndm_flags: 0, ndm_type: 0 }),
  attrs: [attr.u32(NDA_IFINDEX, dev.index)],
});

/** One neighbour of a dump, or undefined for what is not an IP neighbour (bridge fdb, proxy). */
export function decodeNeighbour(m: Message): NeighbourRow | undefined {
  const h = decodeStruct<{ ndm_family: number; ndm_ifindex: number; ndm_state: number; ndm_flags: number }>(ndmsg, m.payload, 0, 'ndmsg');
  const attrs = attrsAfter(m.payload, koffi.sizeof(ndmsg));
  const dst = attrs.get(NDA_DST);
  if (dst === undefined || (dst.length !== 4 && dst.length !== 16)) return undefined;
  const lladdr = attrs.get(NDA_LLADDR);
  const extFlags = u32Of(attrs.get(NDA_FLAGS_EXT)) ?? 0;
  return {
    family: dst.length === 4 ? 4 : 6, ifindex: h.ndm_ifindex, address: addressText(dst),
    ...(lladdr !== undefined && lladdr.length > 0 ? { lladdr: macText(lladdr) } : {}),
    state: h.ndm_state, states: h.ndm_state === NUD_NONE ? ['NONE'] : NUD_STATES.filter(([bit]) => (h.ndm_state & bit) !== 0).map(([, n]) => n),
    flags: h.ndm_flags, extFlags, managed: (extFlags & NTF_EXT_MANAGED) !== 0,
  };
}

// ---- routes ----

export interface RouteRow {
  family: IpFamily;
  table: number;
  dst?: string;
  dstLen: number;
  gateway?: string;
  oif?: number;
  prefsrc?: string;
  type: number;
  protocol: number;
  scope: number;
  flags: number;
}

/** `ip route get ADDR [oif DEV]`: the route the kernel would use for ADDR. */
export function getRoute(address: string, oif?: Dev): Request {
  const a = addressBytes(address);
  const attrs: Attr[] = [attr.bytes(RTA_DST, a.bytes)];
  if (oif !== undefined) attrs.push(attr.u32(RTA_OIF, oif.index));
  return {
    what: `ip -${a.family} route get ${address}${oif === undefined ? '' : ` oif ${oif.name}`}`, type: RTM_GETROUTE, flags: 0,
    // ip sets RTM_F_LOOKUP_TABLE for IPv4 only (it makes the reply name the table that matched).
    header: encodeStruct(rtmsg, { rtm_family: afOf(a.family), rtm_dst_len: a.bytes.length * 8, rtm_table: RT_TABLE_UNSPEC, rtm_flags: a.family === 4 ? RTM_F_LOOKUP_TABLE : 0 }),
    attrs,
  };
}

export interface TableRoute {
  /** Destination prefix, "203.0.113.100/32". */
  dst: string;
  gateway: string;
  dev: Dev;
  table: number;
  /** Use the gateway as if it were on the link (no route to it needed). */
  onlink: boolean;
}

/** `ip route replace DST via GW dev DEV [onlink] table T` (or `add`, refused if it exists). */
export function putRoute(r: TableRoute, mode: 'add' | 'replace'): Request {
  const [addr, lenText] = r.dst.split('/');
  const d = addressBytes(addr ?? '', 'dst');
  const g = addressBytes(r.gateway, 'gateway');
  const dstLen = lenText === undefined ? d.bytes.length * 8 : Number(lenText);
  if (!/^\d+$/.test(lenText ?? '0') || dstLen > d.bytes.length * 8) throw new InvalidArgumentError('dst', r.dst, `must be ADDRESS or ADDRESS/LEN with LEN 0..${d.bytes.length * 8}`);
  return {
    what: `ip route ${mode} ${r.dst} via ${r.gateway} dev ${r.dev.name}${r.onlink ? ' onlink' : ''} table ${r.table}`,
    type: RTM_NEWROUTE, flags: NLM_F_CREATE | (mode === 'replace' ? NLM_F_REPLACE : NLM_F_EXCL),
    header: encodeStruct(rtmsg, {
      rtm_family: afOf(d.family), rtm_dst_len: dstLen, rtm_table: r.table < 256 ? r.table : RT_TABLE_UNSPEC, rtm_protocol: RTPROT_BOOT,
      rtm_scope: RT_SCOPE_UNIVERSE, rtm_type: RTN_UNICAST, rtm_flags: r.onlink ? RTNH_F_ONLINK : 0,
    }),
    attrs: [attr.bytes(RTA_DST, d.bytes), attr.bytes(RTA_GATEWAY, g.bytes), attr.u32(RTA_TABLE, r.table), attr.u32(RTA_OIF, r.dev.index)],
  };
}

/** The routes of one table and family (the kernel filters on RTA_TABLE: strict checking). */
export const dumpRoutes = (family: IpFamily, table: number): Request => ({
  what: `ip -${family} route show table ${table}`, type: RTM_GETROUTE, flags: 0,
  header: encodeStruct(rtmsg, { rtm_family: afOf(family) }), attrs: [attr.u32(RTA_TABLE, table)],
});

/** Deletes a route exactly as a dump described it (what `ip route flush` does). */
export function deleteRouteAsDumped(m: Message, r: RouteRow): Request {
  // The payload goes back unchanged (header and attributes): the kernel matches on what it sent.
  return { what: `ip route del ${r.dst ?? 'default'}/${r.dstLen} table ${r.table}`, type: RTM_DELROUTE, flags: 0, header: copyBytes(m.payload) };
}

export function decodeRoute(m: Message): RouteRow {
  const h = decodeStruct<{ rtm_family: number; rtm_dst_len: number; rtm_table: number; rtm_protocol: number; rtm_scope: number; rtm_type: number; rtm_flags: number }>(rtmsg, m.payload, 0, 'rtmsg');
  const a = attrsAfter(m.payload, koffi.sizeof(rtmsg));
  const dst = a.get(RTA_DST);
  const gw = a.get(RTA_GATEWAY);
  // RTA_VIA: u16 family, then the address (an IPv4 route via an IPv6 next hop).
  const via = a.get(RTA_VIA);
  const src = a.get(RTA_PREFSRC);
  const oif = u32Of(a.get(RTA_OIF));
  return {
    family: h.rtm_family === AF_INET ? 4 : 6, table: u32Of(a.get(RTA_TABLE)) ?? h.rtm_table, dstLen: h.rtm_dst_len,
    ...(dst !== undefined ? { dst: addressText(dst) } : {}),
    ...(gw !== undefined ? { gateway: addressText(gw) } : via !== undefined && via.length > 2 ? { gateway: addressText(via.subarray(2)) } : {}),
    ...(oif !== undefined ? { oif } : {}),
    ...(src !== undefined ? { prefsrc: addressText(src) } : {}),
    type: h.rtm_type, protocol: h.rtm_protocol, scope: h.rtm_scope, flags: h.rtm_flags,
  };
}

// ---- policy rules ----

export interface RuleRow {
  family: IpFamily;
  /** 0 for the `local` rule: the kernel leaves FRA_PRIORITY out when it is 0. */
  priority: number;
  fwmark?: number;
  fwmask?: number;
  table: number;
  action: number;
}

export interface FwmarkRule {
  family: IpFamily;
  priority: number;
  fwmark: number;
  table: number;
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

function ruleRequest(r: FwmarkRule, add: boolean): Request {
  return {
    what: `ip -${r.family} rule ${add ? 'add' : 'del'} pref ${r.priority} fwmark ${hex(r.fwmark)} lookup ${r.table}`,
    type: add ? RTM_NEWRULE : RTM_DELRULE, flags: add ? NLM_F_CREATE | NLM_F_EXCL : 0,
    header: encodeStruct(fibRuleHdr, { family: afOf(r.family), table: r.table < 256 ? r.table : RT_TABLE_UNSPEC, action: add ? FR_ACT_TO_TBL : FR_ACT_UNSPEC, flags: 0 }),
    attrs: [attr.u32(FRA_PRIORITY, r.priority), attr.u32(FRA_FWMARK, r.fwmark), attr.u32(FRA_TABLE, r.table)],
  };
}

/** `ip rule add pref P fwmark M lookup T`. */
export const addRule = (r: FwmarkRule): Request => ruleRequest(r, true);
/** `ip rule del pref P fwmark M lookup T`: the rule matching all three. */
export const deleteRule = (r: FwmarkRule): Request => ruleRequest(r, false);

export const dumpRules = (family: IpFamily): Request => ({
  what: `ip -${family} rule show`, type: RTM_GETRULE, flags: 0, header: encodeStruct(fibRuleHdr, { family: afOf(family) }),
});

export function decodeRule(m: Message): RuleRow {
  const h = decodeStruct<{ family: number; table: number; action: number }>(fibRuleHdr, m.payload, 0, 'fib_rule_hdr');
  const a = attrsAfter(m.payload, koffi.sizeof(fibRuleHdr));
  const priority = u32Of(a.get(FRA_PRIORITY));
  const fwmark = u32Of(a.get(FRA_FWMARK));
  const fwmask = u32Of(a.get(FRA_FWMASK));
  return {
    family: h.family === AF_INET ? 4 : 6, priority: priority ?? 0, table: u32Of(a.get(FRA_TABLE)) ?? h.table, action: h.action,
    ...(fwmark !== undefined ? { fwmark } : {}), ...(fwmask !== undefined ? { fwmask } : {}),
  };
}

// ---- addresses ----

export interface AddressRow {
  family: IpFamily;
  ifindex: number;
  /** The interface's own address (IFA_LOCAL, else IFA_ADDRESS: IPv6 sends only the latter). */
  address: string;
  prefixlen: number;
  scope: number;
  /** IFA_FLAGS when present (all 32 bits), else the header's 8. */
  flags: number;
  label?: string;
}

export interface InterfaceAddress {
  address: string;
  prefixlen: number;
  dev: Dev;
  /** IPv6: usable at once, no duplicate address detection (a floating address moves in at once). */
  nodad?: boolean;
  /**
   * Preferred lifetime in seconds (`preferred_lft`); the valid lifetime stays forever. 0 makes
   * an IPv6 address deprecated: still the host's, never chosen as a source. Omitted: forever.
   */
  preferredLft?: number;
}

function addressRequest(a: InterfaceAddress, add: boolean): Request {
  const b = addressBytes(a.address);
  const flags = a.nodad === true ? IFA_F_NODAD : 0;
  const attrs: Attr[] = [attr.bytes(IFA_LOCAL, b.bytes), attr.bytes(IFA_ADDRESS, b.bytes)];
  if (add && a.preferredLft !== undefined) {
    if (!Number.isInteger(a.preferredLft) || a.preferredLft < 0 || a.preferredLft > INFINITY_LIFE_TIME) throw new InvalidArgumentError('preferredLft', a.preferredLft, 'must be an integer 0..4294967295 (seconds)');
    // struct ifa_cacheinfo { ifa_prefered, ifa_valid, cstamp, tstamp } (the stamps are ignored on add).
    const ci = Buffer.alloc(16);
    ci.writeUInt32LE(a.preferredLft, 0);
    ci.writeUInt32LE(INFINITY_LIFE_TIME, 4);
    attrs.push(attr.bytes(IFA_CACHEINFO, ci));
  }
  const lft = add && a.preferredLft !== undefined ? ` preferred_lft ${a.preferredLft}` : '';
  return {
    what: `ip addr ${add ? 'add' : 'del'} ${a.address}/${a.prefixlen} dev ${a.dev.name}${a.nodad === true ? ' nodad' : ''}${lft}`,
    type: add ? RTM_NEWADDR : RTM_DELADDR, flags: add ? NLM_F_CREATE | NLM_F_EXCL : 0,
    header: encodeStruct(ifaddrmsg, { ifa_family: afOf(b.family), ifa_prefixlen: a.prefixlen, ifa_flags: flags, ifa_scope: RT_SCOPE_UNIVERSE, ifa_index: a.dev.index }),
    attrs,
  };
}

/** `ip addr add ADDR/LEN dev DEV [nodad]`: refused (EEXIST) if the address is there. */
export const addAddress = (a: InterfaceAddress): Request => addressRequest(a, true);
/** `ip addr del ADDR/LEN dev DEV`. */
export const deleteAddress = (a: InterfaceAddress): Request => addressRequest(a, false);

/** `ip addr show dev DEV`; without a device (index 0), `ip addr show`: every interface's. */
export const dumpAddresses = (family: IpFamily | undefined, dev?: Dev): Request => ({
  what: `ip${family === undefined ? '' : ` -${family}`} addr show${dev === undefined ? '' : ` dev ${dev.name}`}`, type: RTM_GETADDR, flags: 0,
  header: encodeStruct(ifaddrmsg, { ifa_family: family === undefined ? AF_UNSPEC : afOf(family), ifa_index: dev?.index ?? 0 }),
});

export function decodeAddress(m: Message): AddressRow {
  const h = decodeStruct<{ ifa_family: number; ifa_prefixlen: number; ifa_flags: number; ifa_scope: number; ifa_index: number }>(ifaddrmsg, m.payload, 0, 'ifaddrmsg');
  const a = attrsAfter(m.payload, koffi.sizeof(ifaddrmsg));
  const local = a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS);
  const label = a.get(IFA_LABEL);
  return {
    family: h.ifa_family === AF_INET ? 4 : 6, ifindex: h.ifa_index, address: local === undefined ? '' : addressText(local),
    prefixlen: h.ifa_prefixlen, scope: h.ifa_scope, flags: u32Of(a.get(IFA_FLAGS)) ?? h.ifa_flags,
    ...(label !== undefined ? { label: cString(label) } : {}),
  };
}
