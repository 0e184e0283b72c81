// SPDX-License-Identifier: Apache-2.0
// The desired state: what the data plane should do. Config files and the gRPC API both
// produce it; the reconciler diffs it against the maps.

export type Protocol = 'tcp' | 'udp';
export type Family = 4 | 6;
export type SchedulerName = 'rr' | 'wrr' | 'lc' | 'wlc' | 'lblc' | 'lblcr' | 'dh' | 'sh' | 'sed' | 'nq' | 'mh' | 'fo' | 'ovf';
export type ForwardMethod = 'nat' | 'dr' | 'tun' | 'fullnat';
export const SCHEDULERS: readonly SchedulerName[] = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh', 'fo', 'ovf'];
export const METHODS: readonly ForwardMethod[] = ['nat', 'dr', 'tun', 'fullnat'];

/** One address:port/proto the service answers on. port 0 = every port of that VIP+protocol. */
export interface Frontend {
  vip: string;
  port: number;
  protocol: Protocol;
}

/** A service is identified by its first frontend. */
export interface ServiceKey {
  vip: string; // IPv4 dotted or IPv6 canonical
  port: number; // 0..65535 (0 = all ports)
  protocol: Protocol;
}

export interface RealSpec {
  address: string; // IPv4 dotted or IPv6 canonical
  port: number; // 0 = keep the client's destination port, else 1..65535
  weight: number; // 0..65535; 0 = quiescent (no new flows, existing continue)
  method: ForwardMethod;
  upper_threshold: number; // 0 = none; new flows stop when active+inactive >= this
  lower_threshold: number; // 0 = 3/4 of upper (IPVS); new flows resume below this
}

export interface Persistence {
  timeout: number; // seconds
  netmask: number; // client prefix length
}

/** IPVS's sh/mh flags: sh-fallback/mh-fallback, sh-port/mh-port. */
export interface HashOptions {
  fallback: boolean;
  port: boolean;
}

export interface ServiceSpec extends ServiceKey {
  family: Family;
  frontends: Frontend[]; // >= 1; frontends[0] is the key
  scheduler: SchedulerName;
  persistence?: Persistence;
  hash: HashOptions;
  mh_table_size: number; // prime
  reals: RealSpec[];
}

/** Flow timeouts in seconds (IPVS defaults: 900 / 120 / 10 / 300). */
export interface Timeouts {
  tcp: number;
  tcp_fin: number;
  tcp_close: number;
  udp: number;
}

/** The router's own addresses: tunnel source (tun) and source NAT address (fullnat). */
export interface LocalAddresses {
  v4?: string;
  v6?: string;
}

export interface DesiredState {
  services: ServiceSpec[];
  timeouts: Timeouts;
  hash_seed: number;
  local: LocalAddresses;
}

export const DEFAULT_TIMEOUTS: Timeouts = { tcp: 900, tcp_fin: 120, tcp_close: 10, udp: 300 };
export const DEFAULT_MH_TABLE_SIZE = 65537;

const hostPort = (addr: string, port: number | string): string => (addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`);

export function serviceId(k: ServiceKey): string {
  return `${k.protocol}/${hostPort(k.vip, k.port === 0 ? '*' : k.port)}`;
}

export function realId(r: { address: string; port: number }): string {
  return hostPort(r.address, r.port);
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
  active_conns: number;
  inactive_conns: number;
}

export interface ServiceStatus extends Omit<ServiceSpec, 'reals'> {
  reals: RealStatus[];
  counters: Counters;
}

/** What the gRPC API may ask of the daemon. Every call validates fully before it changes anything. */
export interface ControlApi {
  listServices(): Promise<ServiceStatus[]>;
  /** Adds a real, or updates weight/method of an existing one with the same address:port. */
  addReal(svc: ServiceKey, real: RealSpec): Promise<void>;
  removeReal(svc: ServiceKey, address: string, port: number): Promise<void>;
  /** Drop counters by reason name (e.g. "no_real"). */
  drops(): Promise<Record<string, bigint>>;
}
