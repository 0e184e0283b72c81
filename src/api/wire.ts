// SPDX-License-Identifier: Apache-2.0
// TypeScript shapes of the proto/xlvs/v1/xlvs.proto messages exactly as @grpc/proto-loader
// hands them over with the options in proto.ts (keepCase, longs: String, enums: String,
// defaults, oneofs). Kept by hand because the proto is small and loaded at runtime; if the
// two drift, the round-trip test in test/unit/api.test.ts fails.
//
// Incoming messages are typed loosely on purpose: a peer can send an enum number this
// schema does not know (it arrives as a number), or omit a sub-message (it arrives as null).

/** An enum as decoded: its name, or the raw number when the value is unknown to us. */
export type WireEnum<Name extends string> = Name | number;

export type WireProtocol = 'PROTOCOL_UNSPECIFIED' | 'PROTOCOL_TCP' | 'PROTOCOL_UDP';
export type WireScheduler =
  | 'SCHEDULER_UNSPECIFIED' | 'SCHEDULER_RR' | 'SCHEDULER_WRR' | 'SCHEDULER_LC' | 'SCHEDULER_WLC'
  | 'SCHEDULER_LBLC' | 'SCHEDULER_LBLCR' | 'SCHEDULER_DH' | 'SCHEDULER_SH' | 'SCHEDULER_SED'
  | 'SCHEDULER_NQ' | 'SCHEDULER_MH' | 'SCHEDULER_FO' | 'SCHEDULER_OVF';
export type WireForwardMethod =
  | 'FORWARD_METHOD_UNSPECIFIED' | 'FORWARD_METHOD_NAT' | 'FORWARD_METHOD_DR' | 'FORWARD_METHOD_TUN'
  | 'FORWARD_METHOD_FULLNAT';
export type WireAddressFamily = 'ADDRESS_FAMILY_UNSPECIFIED' | 'ADDRESS_FAMILY_IPV4' | 'ADDRESS_FAMILY_IPV6';

export interface WireServiceKey {
  vip: string;
  port: number;
  protocol: WireEnum<WireProtocol>;
}

export interface WireFrontend {
  vip: string;
  port: number;
  protocol: WireEnum<WireProtocol>;
}

export interface WirePersistence {
  timeout: number;
  netmask: number;
}

export interface WireHashOptions {
  fallback: boolean;
  port: boolean;
}

export interface WireReal {
  address: string;
  port: number;
  /** Absent (undefined) when the sender did not set it: proto3 explicit presence. */
  weight?: number;
  method: WireEnum<WireForwardMethod>;
  upper_threshold: number;
  lower_threshold: number;
}

/** uint64 counters travel as decimal strings so values above 2^53 stay exact. */
export interface WireCounters {
  packets_in: string;
  bytes_in: string;
  packets_out: string;
  bytes_out: string;
  conns: string;
}

export interface WireRealStatus {
  real: WireReal | null;
  counters: WireCounters | null;
  /** uint64 as a decimal string, like the counters. */
  active_conns: string;
  inactive_conns: string;
  health: WireEnum<WireHealthStatus>;
  effective_weight: number;
  sorry: boolean;
}

export interface WireServiceStatus {
  key: WireServiceKey | null;
  scheduler: WireEnum<WireScheduler>;
  reals: WireRealStatus[];
  counters: WireCounters | null;
  family: WireEnum<WireAddressFamily>;
  frontends: WireFrontend[];
  /** null when the service is not persistent. */
  persistence: WirePersistence | null;
  hash: WireHashOptions | null;
  mh_table_size: number;
}

export type ListServicesRequest = Record<string, never>;
export interface ListServicesResponse {
  services: WireServiceStatus[];
}

export interface AddRealRequest {
  service: WireServiceKey | null;
  real: WireReal | null;
}
export type AddRealResponse = Record<string, never>;

export interface RemoveRealRequest {
  service: WireServiceKey | null;
  address: string;
  port: number;
}
export type RemoveRealResponse = Record<string, never>;

export type GetDropsRequest = Record<string, never>;
export interface GetDropsResponse {
  drops: Record<string, string>;
}

export type WireHealthStatus = 'HEALTH_STATUS_UNSPECIFIED' | 'HEALTH_STATUS_UP' | 'HEALTH_STATUS_DOWN';

export type ListHealthRequest = Record<string, never>;

export interface WireHealthCheck {
  service: WireServiceKey | null;
  real_address: string;
  real_port: number;
  type: string;
  check_address: string;
  check_port: number;
  status: WireEnum<WireHealthStatus>;
  since_ms: string;
  successes: number;
  failures: number;
  /** Absent when the check reported no weight (proto3 optional). */
  reported_weight?: number;
  /** Absent before the first probe. */
  last_ok?: boolean;
  last_reason: string;
  last_ms: number;
  last_at_ms: string;
  probes_ok: string;
  probes_failed: string;
  went_up: string;
  went_down: string;
  probe_method: string;
  degraded: string;
}

export interface WireServiceHealth {
  service: WireServiceKey | null;
  healthy_weight: string;
  quorum: string;
  sorry_active: boolean;
}

export interface WireHealthTotals {
  checks: string;
  up: string;
  down: string;
  probes_started: string;
  probes_ok: string;
  probes_failed: string;
  timed_out: string;
  skipped: string;
  in_flight: string;
  transitions: string;
}

export interface ListHealthResponse {
  checks: WireHealthCheck[];
  services: WireServiceHealth[];
  totals: WireHealthTotals | null;
}

export type WatchHealthRequest = Record<string, never>;

export interface WireHealthEvent {
  at_ms: string;
  service: WireServiceKey | null;
  real_address: string;
  real_port: number;
  type: string;
  from: WireEnum<WireHealthStatus>;
  to: WireEnum<WireHealthStatus>;
  reason: string;
  reported_weight?: number;
}

export type GetCapabilitiesRequest = Record<string, never>;

export interface WireCapability {
  name: string;
  available: boolean;
  detail: string;
  needed_by: string;
}

export interface GetCapabilitiesResponse {
  kernel: string;
  capabilities: WireCapability[];
  syn_checks_configured: boolean;
  syn_checks_running: boolean;
  syn_checks_problem: string;
}
