// SPDX-License-Identifier: Apache-2.0
// The desired state: what the data plane should do. Config files and the gRPC API both
// produce it; the reconciler diffs it against the maps.

export type Protocol = 'tcp' | 'udp';
export type SchedulerName = 'rr' | 'wrr';
export type ForwardMethod = 'nat';

/** A virtual service is identified by VIP, port and protocol. */
export interface ServiceKey {
  vip: string; // dotted IPv4
  port: number; // 1..65535
  protocol: Protocol;
}

export interface RealSpec {
  address: string; // dotted IPv4
  port: number; // 1..65535
  weight: number; // 0..65535; 0 = quiescent (no new flows, existing continue)
  method: ForwardMethod;
}

export interface ServiceSpec extends ServiceKey {
  scheduler: SchedulerName;
  reals: RealSpec[];
}

/** Flow timeouts in seconds (IPVS defaults: 900 / 120 / 10 / 300). */
export interface Timeouts {
  tcp: number;
  tcp_fin: number;
  tcp_close: number;
  udp: number;
}

export interface DesiredState {
  services: ServiceSpec[];
  timeouts: Timeouts;
}

export const DEFAULT_TIMEOUTS: Timeouts = { tcp: 900, tcp_fin: 120, tcp_close: 10, udp: 300 };

export function serviceId(k: ServiceKey): string {
  return `${k.protocol}/${k.vip}:${k.port}`;
}

export function realId(r: { address: string; port: number }): string {
  return `${r.address}:${r.port}`;
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
}

export interface ServiceStatus extends ServiceKey {
  scheduler: SchedulerName;
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
