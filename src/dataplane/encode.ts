// SPDX-License-Identifier: Apache-2.0
// The model (services, reals, frontends, timeouts) as the data plane's map entries
// (bpf/xlvs_abi.h, codecs in src/gen/abi.ts), and back for adoption: pure, no kernel.

import { addressBytes, addressFromBytes, familyOf } from '../model/ip.js';
import {
  XLVS_REAL_F_USED, XLVS_REAL_F_EVICT_DROP, XLVS_REAL_F_EVICT_RESET,
  XLVS_SCHED, XLVS_METHOD, XLVS_SVC_F_PERSIST, XLVS_SVC_F_HASH_FALLBACK, XLVS_SVC_F_HASH_PORT,
  XLVS_SRCVAL_OFF, XLVS_SRCVAL_STRICT, XLVS_SRCVAL_LOOSE, XLVS_SRCVAL_ALLOW, XLVS_SRCVAL_DENY,
  type XlvsSrcval, type XlvsSrcvalKey, type XlvsCfg, type XlvsCounters, type XlvsVipKey, type XlvsReal, type XlvsSvc, type XlvsRealConns,
} from '../gen/abi.js';
import type {
  AppliedReal, AppliedService, Family, ForwardMethod, Frontend, LocalAddresses, Protocol, SchedulerName, SourcePrefix,
  SourceValidation, SourceValidationMode, Timeouts,
} from '../model/types.js';

export const PROTO: Record<Protocol, number> = { tcp: 6, udp: 17 };
export const PROTO_NAME: Record<number, Protocol> = { 6: 'tcp', 17: 'udp' };
export const SCHED_NAME = Object.fromEntries(Object.entries(XLVS_SCHED).map(([k, v]) => [v, k.toLowerCase()])) as Record<number, SchedulerName>;
export const METHOD_NAME = Object.fromEntries(Object.entries(XLVS_METHOD).map(([k, v]) => [v, k.toLowerCase()])) as Record<number, ForwardMethod>;
const schedCode = (s: SchedulerName): number => XLVS_SCHED[s.toUpperCase() as keyof typeof XLVS_SCHED];
const methodCode = (m: ForwardMethod): number => XLVS_METHOD[m.toUpperCase() as keyof typeof XLVS_METHOD];

/** RealSpec.evict as the reals entry's flag bit: the data plane ends the real's existing flows
 * at their next packet (dropped, or a TCP client reset) instead of letting them run on. */
const EVICT_FLAG: Record<NonNullable<AppliedReal['evict']>, number> = { drop: XLVS_REAL_F_EVICT_DROP, reset: XLVS_REAL_F_EVICT_RESET };
const realFlags = (r: AppliedReal): number => XLVS_REAL_F_USED | (r.evict ? EVICT_FLAG[r.evict] : 0);

/** The evict a reals entry's flags say, for adoption; RESET wins if both were ever set. */
export function evictOf(flags: number): AppliedReal['evict'] {
  if (flags & XLVS_REAL_F_EVICT_RESET) return 'reset';
  if (flags & XLVS_REAL_F_EVICT_DROP) return 'drop';
  return undefined;
}

export const NS = 1_000_000_000n;
/** Schedulers whose picks depend on the cluster's hash seed. */
export const HASHED = new Set<SchedulerName>(['sh', 'dh', 'mh']);
/** lblc/lblcr: IPVS's default expiration (sysctl lblc_expiration / lblcr_expiration, 24 h). */
const LBLC_EXPIRE_NS = 24n * 3600n * NS;
export const zeroCounters = (): XlvsCounters => ({ packets_in: 0n, bytes_in: 0n, packets_out: 0n, bytes_out: 0n, conns: 0n });
const ZERO_ADDR = Buffer.alloc(16);
/** A free slot of the reals map: flags without XLVS_REAL_F_USED. */
export const EMPTY_REAL: XlvsReal = {
  addr: ZERO_ADDR, port: 0, method: 0, flags: 0, family: 0, svc_id: 0, weight: 0, u_threshold: 0, l_threshold: 0,
};
export const EMPTY_SVC: XlvsSvc = { sched: 0, flags: 0, n_reals: 0, table_len: 0, persist_ns: 0n, hash_seed: 0, persist_plen: 0, family: 0 };

const familyOfAddr = (a: string): Family => familyOf(a)!;

export function frontKeyOf(f: Frontend): XlvsVipKey {
  return { addr: addressBytes(f.vip), port: f.port, proto: PROTO[f.protocol], family: familyOfAddr(f.vip) };
}

/** The VIP address entry (port 0, proto 0): ICMP, fragments and the first lookup of every packet. */
export function addrKeyOf(vip: string): XlvsVipKey {
  return { addr: addressBytes(vip), port: 0, proto: 0, family: familyOfAddr(vip) };
}

/** A vips key as a string: the identity of a frontend in the slot index. */
export const keyString = (k: XlvsVipKey): string => `${k.family}/${k.addr.toString('hex')}/${k.port}/${k.proto}`;

/** A connection count the data plane left non-zero (or raced below zero: a huge u32). */
export const busy = (c: XlvsRealConns | undefined): boolean => c !== undefined && (c.active !== 0 || c.inactive !== 0);

/** The reals entry of r, a real of the service in slot svcId. */
export function realEntry(r: AppliedReal, svcId: number): XlvsReal {
  return {
    addr: addressBytes(r.address), port: r.port, method: methodCode(r.method), flags: realFlags(r),
    family: familyOfAddr(r.address), svc_id: svcId, weight: r.weight,
    u_threshold: r.upper_threshold, l_threshold: r.lower_threshold,
  };
}

/** A used reals entry as the real it describes (adoption after a restart). */
export function realFromEntry(r: XlvsReal): AppliedReal {
  const evict = evictOf(r.flags);
  return {
    address: addressFromBytes(r.addr, r.family as Family), port: r.port, weight: r.weight,
    method: METHOD_NAME[r.method] ?? 'nat', upper_threshold: r.u_threshold, lower_threshold: r.l_threshold,
    ...(evict ? { evict } : {}),
  };
}

export function cfgEntry(t: Timeouts, local: LocalAddresses): XlvsCfg {
  return {
    timeout_tcp_ns: BigInt(t.tcp) * NS,
    timeout_tcp_fin_ns: BigInt(t.tcp_fin) * NS,
    timeout_tcp_close_ns: BigInt(t.tcp_close) * NS,
    timeout_udp_ns: BigInt(t.udp) * NS,
    lblc_expire_ns: LBLC_EXPIRE_NS,
    lblcr_shrink_ns: LBLC_EXPIRE_NS,
    local4: local.v4 ? addressBytes(local.v4) : ZERO_ADDR,
    local6: local.v6 ? addressBytes(local.v6) : ZERO_ADDR,
    has_local: (local.v4 ? 1 : 0) | (local.v6 ? 2 : 0),
  };
}

const SRCVAL_MODE: Record<SourceValidationMode, number> = { off: XLVS_SRCVAL_OFF, strict: XLVS_SRCVAL_STRICT, loose: XLVS_SRCVAL_LOOSE };

/** The srcval entry: the mode, and the private interface a loose route back may not use. */
export function srcvalEntry(sv: SourceValidation, privateIfindex: number): XlvsSrcval {
  return { mode: SRCVAL_MODE[sv.mode], private_ifindex: privateIfindex };
}

/** The srcval_prefixes key of a prefix: the trie's prefix length counts the family's 32 bits first. */
export function srcvalKeyOf(p: SourcePrefix): XlvsSrcvalKey {
  return { prefixlen: 32 + p.prefix, family: familyOfAddr(p.address), addr: addressBytes(p.address) };
}

export const srcvalKeyString = (k: XlvsSrcvalKey): string => `${k.family}/${k.addr.toString('hex')}/${k.prefixlen}`;

/** Every srcval_prefixes entry the allow and deny lists make, by srcvalKeyString. */
export function srcvalPrefixes(sv: SourceValidation): Map<string, { key: XlvsSrcvalKey; action: number }> {
  const out = new Map<string, { key: XlvsSrcvalKey; action: number }>();
  if (sv.mode === 'off') return out;
  for (const [list, action] of [[sv.allow, XLVS_SRCVAL_ALLOW], [sv.deny, XLVS_SRCVAL_DENY]] as const) {
    for (const p of list) {
      const key = srcvalKeyOf(p);
      out.set(srcvalKeyString(key), { key, action });
    }
  }
  return out;
}

/** The svcs entry of a service with nReals reals and a table of tableLen slots. */
export function svcEntry(s: Omit<AppliedService, 'reals'>, nReals: number, tableLen: number, seed: number): XlvsSvc {
  let flags = 0;
  if (s.persistence) flags |= XLVS_SVC_F_PERSIST;
  if (s.hash.fallback) flags |= XLVS_SVC_F_HASH_FALLBACK;
  if (s.hash.port) flags |= XLVS_SVC_F_HASH_PORT;
  return {
    sched: schedCode(s.scheduler),
    flags,
    n_reals: nReals,
    table_len: tableLen,
    persist_ns: s.persistence ? BigInt(s.persistence.timeout) * NS : 0n,
    hash_seed: HASHED.has(s.scheduler) ? seed >>> 0 : 0,
    persist_plen: s.persistence ? s.persistence.netmask : 0,
    family: s.family,
  };
}

/** Same reals entry: a change of any written field (evict alone too) rewrites it. */
export function sameReal(a: AppliedReal, b: AppliedReal): boolean {
  return a.weight === b.weight && a.method === b.method && a.upper_threshold === b.upper_threshold &&
    a.lower_threshold === b.lower_threshold && a.evict === b.evict;
}
