// SPDX-License-Identifier: Apache-2.0
// The desired state: what the data plane should do. Config files and the gRPC API both
// produce it; health applied to it is the applied state, which the reconciler writes into the
// maps (state/pipeline.ts). Addresses are kept in one canonical
// text form (model/ip.ts), so string equality is address equality.

import { XLVS_MAX_SVC_REALS, XLVS_MAX_TABLE } from '../gen/abi.js';
import { joinHostPort } from './ip.js';
import { largestPrimeAtMost } from './math.js';
import type { CheckSpec } from './check.js';

export type Protocol = 'tcp' | 'udp';
/** 4 or 6; a service, its frontends and its reals are all of one family. */
export type Family = 4 | 6;
/** IPVS's schedulers, same names and meaning (ipvsadm -s). */
export type SchedulerName = 'rr' | 'wrr' | 'lc' | 'wlc' | 'lblc' | 'lblcr' | 'dh' | 'sh' | 'sed' | 'nq' | 'mh' | 'fo' | 'ovf';
/** nat: masquerading (-m); dr: direct routing (-g); tun: IP-in-IP (-i); fullnat: source and destination NAT. */
export type ForwardMethod = 'nat' | 'dr' | 'tun' | 'fullnat';

export const SCHEDULERS: readonly SchedulerName[] = [
  'rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh', 'fo', 'ovf',
];
export const METHODS: readonly ForwardMethod[] = ['nat', 'dr', 'tun', 'fullnat'];

/** Schedulers whose pick is a hash of the flow; they take HashOptions and the cluster's hash seed. */
export const HASH_SCHEDULERS: readonly SchedulerName[] = ['sh', 'mh'];
/** Methods that cannot change the destination port (IPVS: the real sees the packet as sent). */
export const PORT_KEEPING_METHODS: readonly ForwardMethod[] = ['dr', 'tun'];
/** Methods that need a local address of the router: the tunnel's outer source, or the SNAT source. */
export const LOCAL_ADDRESS_METHODS: readonly ForwardMethod[] = ['tun', 'fullnat'];

export const DEFAULT_SCHEDULER: SchedulerName = 'wlc'; // IPVS's default
export const DEFAULT_METHOD: ForwardMethod = 'nat';
export const DEFAULT_PERSISTENCE_TIMEOUT = 300; // ipvsadm -p without a value
/** Longest persistence / flow timeout in seconds: INT32_MAX ms stays safe for every consumer. */
export const MAX_TIMEOUT_S = 2147483;
/** Default Maglev lookup table size: a prime well above any service's number of reals. */
export const DEFAULT_MH_TABLE_SIZE = 65537;
/** Largest mh table size: the largest prime the data plane's table (XLVS_MAX_TABLE slots) holds. */
export const MAX_MH_TABLE_SIZE = largestPrimeAtMost(XLVS_MAX_TABLE);
/** Reals a service can hold (with its sorry server): the data plane's svc_reals row. */
export const MAX_REALS_PER_SERVICE = XLVS_MAX_SVC_REALS;
export const MAX_U32 = 0xffffffff;

/** One address:port/proto the service answers on. port 0 = every port of that VIP+protocol. */
export interface Frontend {
  vip: string;
  port: number; // 0 = every port; a specific port of the same VIP+protocol elsewhere wins over it
  protocol: Protocol;
}

/** A service is identified by its first frontend (ServiceKey keeps its old shape). */
export interface ServiceKey {
  vip: string; // IPv4 dotted or IPv6 canonical
  port: number; // 0 = every port
  protocol: Protocol;
}

/** A real server of a service, identified within it by address:port. */
export interface RealSpec {
  address: string; // IPv4 dotted or IPv6 canonical (RFC 5952 lower-case compressed)
  port: number; // 0 = keep the client's destination port (port groups), else 1..65535
  weight: number; // 0..65535; 0 = quiescent
  method: ForwardMethod; // default 'nat'
  upper_threshold: number; // 0 = none; new flows stop when active+inactive conns >= this
  lower_threshold: number; // 0 = 3/4 of upper (IPVS); new flows resume below this
  /** This real's health check: absent = the service's `check`, null = none (config `check: none`). */
  check?: CheckSpec | null;
}

/** Client affinity (ipvsadm -p/-M): a client's new flows go where its last one went. */
export interface Persistence {
  timeout: number; // seconds, 1..2147483, default 300
  netmask: number; // prefix length grouping clients: 0..32 v4 (default 32), 0..128 v6 (default 128)
}

/** IPVS's sh-fallback/sh-port and mh-fallback/mh-port flags. */
export interface HashOptions {
  fallback: boolean; // an unavailable (weight 0 / overloaded) real's flows go to another one
  port: boolean; // hash the client's port too, not only its address
}

export interface ServiceSpec extends ServiceKey {
  family: Family; // derived from vip; every frontend and real matches it
  frontends: Frontend[]; // >= 1; frontends[0] equals the key (vip, port, protocol)
  scheduler: SchedulerName; // default 'wlc' (IPVS default)
  persistence?: Persistence; // absent = not persistent
  hash: HashOptions; // used by sh/mh; default both false
  mh_table_size: number; // prime, 2..1048573, default 65537; used by mh
  reals: RealSpec[];
  /** The health check every real of the service gets unless it has its own. */
  check?: CheckSpec;
  /** Takes the service's new flows while the healthy reals' weight is below `quorum`. */
  sorry_server?: RealSpec;
  /** Minimum total weight of healthy reals (default 1: at least one healthy real). */
  quorum?: number;
}

/** A real as the data plane runs it: the weight health gives it, and what else health decided. */
export interface AppliedReal extends RealSpec {
  /** This real is the service's sorry server, in the pool while the quorum is lost. */
  sorry?: boolean;
  /** Health checks (on_failure: remove) end this real's existing flows: dropped or reset. */
  evict?: 'drop' | 'reset';
}

/** A service as the data plane runs it: its spec with health applied to its reals. */
export interface AppliedService extends Omit<ServiceSpec, 'reals'> {
  reals: AppliedReal[];
}

/**
 * What the data plane runs: the desired state (config and API changes merged) with health
 * applied. The health overlay makes it, the reconciler writes it; nothing else does either.
 * An unchanged service keeps the very object of the desired state it came from.
 */
export interface AppliedState extends Omit<DesiredState, 'services'> {
  services: AppliedService[];
}

/** The router's own addresses: tunnel outer source (tun) and SNAT source (fullnat), per family. */
export interface LocalAddresses {
  v4?: string;
  v6?: string;
}

/** Flow timeouts in seconds (IPVS defaults: 900 / 120 / 10 / 300). */
export interface Timeouts {
  tcp: number;
  tcp_fin: number;
  tcp_close: number;
  udp: number;
}

/**
 * Which sources may open a flow from the public side (bpf/srcval.h). strict: no martian, none of
 * the router's own addresses, and the route back leaves by the interface the packet came in on
 * (rp_filter=1); loose: the same, but the route back may leave by any interface except the
 * private one; off: nothing is checked.
 */
export type SourceValidationMode = 'strict' | 'loose' | 'off';
export const SOURCE_VALIDATION_MODES: readonly SourceValidationMode[] = ['strict', 'loose', 'off'];

/** A source prefix of source_validation's allow or deny list: address with no host bits set. */
export interface SourcePrefix {
  address: string; // canonical (model/ip.ts), every bit past `prefix` zero
  prefix: number; // 0..32 / 0..128
}

export interface SourceValidation {
  mode: SourceValidationMode;
  /** Let through whatever the checks say; the longest matching prefix of allow and deny decides. */
  allow: SourcePrefix[];
  /** Dropped as martian, on top of the checks. */
  deny: SourcePrefix[];
}

export const DEFAULT_SOURCE_VALIDATION: Readonly<SourceValidation> = Object.freeze({ mode: 'strict', allow: [], deny: [] });

export interface DesiredState {
  services: ServiceSpec[];
  timeouts: Timeouts;
  /** Seed of the sh/dh/mh hashes (u32): two routers with the same seed pick the same real. */
  hash_seed: number;
  local: LocalAddresses;
  source_validation: SourceValidation;
}

export const DEFAULT_TIMEOUTS: Timeouts = { tcp: 900, tcp_fin: 120, tcp_close: 10, udp: 300 };

/** "tcp/203.0.113.100:80", "tcp/[2001:db8::1]:80"; port 0 (every port) as "*". */
export function serviceId(k: ServiceKey): string {
  return `${k.protocol}/${joinHostPort(k.vip, k.port === 0 ? '*' : k.port)}`;
}

/** "10.77.0.11:80", "[fd00::11]:80" (port 0 = keep stays "0"). */
export function realId(r: { address: string; port: number }): string {
  return joinHostPort(r.address, r.port);
}

export interface Counters {
  packets_in: bigint;
  bytes_in: bigint;
  packets_out: bigint;
  bytes_out: bigint;
  conns: bigint;
}

export interface RealStatus extends RealSpec {
  counters: Counters;
  /** Established TCP flows to this real (IPVS ActiveConn), filled from the data plane. */
  active_conns: number;
  /** Other live flows: TCP not established, UDP (IPVS InActConn), filled from the data plane. */
  inactive_conns: number;
  /** The real's health check's verdict; 'unchecked' without a check. */
  health: 'up' | 'down' | 'unchecked';
  /** The weight the data plane runs: health, slow start and the sorry server applied. */
  effective_weight: number;
  /** This is the service's sorry server (it is not one of `reals` in the config). */
  sorry: boolean;
}

export interface ServiceStatus extends Omit<ServiceSpec, 'reals'> {
  reals: RealStatus[];
  counters: Counters;
}
