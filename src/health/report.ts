// SPDX-License-Identifier: Apache-2.0
// What the health checker reports (the gRPC API's ListHealth and WatchHealth, xlvsctl health).

import type { CheckSpec } from './spec.js';
import type { HealthStatus } from './state.js';
import type { ServiceHealth } from './overlay.js';
import type { ServiceKey } from '../model/types.js';

export type { ServiceHealth } from './overlay.js';

/** One change of one real's health, as logged and streamed. */
export interface HealthEvent {
  at: number; // ms since the epoch
  service: string; // "tcp/203.0.113.100:80"
  service_key: ServiceKey;
  real: string; // "10.77.0.11:80"
  real_address: string;
  real_port: number;
  type: CheckSpec['type'];
  from: HealthStatus;
  to: HealthStatus;
  reason: string;
  /** Weight reported by the check (exec); undefined = the configured one. */
  weight: number | undefined;
}

export interface TargetCounters {
  probes_ok: number;
  probes_failed: number;
  /** Of probes_failed, those that ran out of time (no answer): the rest failed on an answer. */
  probes_timed_out: number;
  went_up: number;
  went_down: number;
}

/**
 * How a check's probes go: a SYN from the data plane, a connect(), a socket that sends and
 * reads (tcp/udp with send/expect, udp), an http(s) request, or a program.
 */
export const PROBE_METHODS = ['syn', 'connect', 'socket', 'http', 'exec'] as const;
export type ProbeMethod = (typeof PROBE_METHODS)[number];

export interface TargetStatus {
  service: string;
  service_key: ServiceKey;
  real: string;
  real_address: string;
  real_port: number;
  type: CheckSpec['type'];
  address: string;
  port: number;
  status: HealthStatus;
  since: number | null; // ms since the epoch; null = since the daemon (re)started, trusted up
  successes: number;
  failures: number;
  weight: number | undefined;
  last: { ok: boolean; reason: string; ms: number; at: number } | undefined;
  counters: TargetCounters;
  /** How the probes go. */
  method: ProbeMethod;
  /** Why they do not go as configured; absent when they do. */
  degraded?: string;
}

export interface HealthTotals {
  targets: number;
  up: number;
  down: number;
  probes_started: number;
  probes_ok: number;
  probes_failed: number;
  timed_out: number;
  skipped: number;
  in_flight: number;
  transitions: number;
}

/** ListHealth's answer. */
export interface HealthReport {
  checks: TargetStatus[];
  services: Array<{ service: string; service_key: ServiceKey; health: Omit<ServiceHealth, 'ramping'> }>;
  totals: HealthTotals;
}
