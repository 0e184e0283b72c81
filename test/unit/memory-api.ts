// SPDX-License-Identifier: Apache-2.0
// An in-memory ControlApi and the small fixture builders the API and xlvsctl tests share: the
// real gRPC server and client run over it, so only the daemon behind them is replaced.

import { CapacityError, NotFoundError } from '../../src/errors.js';
import type { ControlApi } from '../../src/api/control-api.js';
import { HaCalls } from '../../src/api/ha-calls.js';
import type { HaControl, HaEvent, HaStatus } from '../../src/ha/types.js';
import {
  MAX_REALS_PER_SERVICE,
  type Protocol,
  type RealSpec,
  type RealStatus,
  type ServiceKey,
  type ServiceStatus,
  realId,
  serviceId,
} from '../../src/model/types.js';
import type { HealthEvent, HealthReport } from '../../src/health/report.js';
import type { CapabilityReport } from '../../src/host/capabilities.js';
import type { OverrideStatus } from '../../src/state/override-rules.js';

export const U64_MAX = 2n ** 64n - 1n;
export const zero = () => ({ packets_in: 0n, bytes_in: 0n, packets_out: 0n, bytes_out: 0n, conns: 0n });

/** A nat real with no thresholds, plus `more`. */
export const spec = (address: string, port: number, more: Partial<RealSpec> = {}): RealSpec => ({
  address, port, weight: 1, method: 'nat', upper_threshold: 0, lower_threshold: 0, ...more,
});
/** The same real as listed, with zero counters unless given. */
export const listed = (address: string, port: number, more: Partial<RealStatus> = {}): RealStatus => ({
  ...spec(address, port), counters: zero(), active_conns: 0, inactive_conns: 0, health: 'unchecked', effective_weight: more.weight ?? 1, sorry: false, ...more,
});
/** A single-frontend IPv4 service as listed. */
export const service = (vip: string, port: number, protocol: Protocol, more: Partial<ServiceStatus> = {}): ServiceStatus => ({
  vip, port, protocol, family: 4, frontends: [{ vip, port, protocol }], scheduler: 'wlc',
  hash: { fallback: false, port: false }, mh_table_size: 65537, counters: zero(), reals: [], ...more,
});

/** A ControlApi kept in memory, counting calls so tests can prove validation came first. */
export class MemoryApi implements ControlApi {
  calls = { listServices: 0, addReal: 0, removeReal: 0, drops: 0, listHealth: 0 };
  /** Reals a service takes before addReal throws CapacityError, as the data plane's limit does. */
  maxReals = MAX_REALS_PER_SERVICE;
  services: ServiceStatus[] = [
    {
      ...service('203.0.113.100', 80, 'tcp'),
      scheduler: 'rr',
      counters: { ...zero(), packets_in: U64_MAX },
      reals: [listed('10.77.0.11', 80, { counters: { ...zero(), conns: 7n }, active_conns: 2, inactive_conns: 5 })],
    },
    service('2001:db8::1', 80, 'tcp', {
      family: 6,
      frontends: [
        { vip: '2001:db8::1', port: 80, protocol: 'tcp' },
        { vip: '2001:db8::1', port: 443, protocol: 'tcp' },
      ],
      scheduler: 'mh',
      hash: { fallback: true, port: false },
      persistence: { timeout: 300, netmask: 64 },
      reals: [listed('fd00::11', 0, { method: 'dr' })],
    }),
  ];

  private find(svc: ServiceKey): ServiceStatus {
    const s = this.services.find((x) => serviceId(x) === serviceId(svc));
    if (!s) throw new NotFoundError('service', serviceId(svc));
    return s;
  }

  async listServices(): Promise<ServiceStatus[]> {
    this.calls.listServices++;
    return structuredClone(this.services);
  }

  async addReal(svc: ServiceKey, real: RealSpec): Promise<void> {
    this.calls.addReal++;
    const s = this.find(svc);
    const existing = s.reals.find((r) => realId(r) === realId(real));
    if (existing) Object.assign(existing, real, { effective_weight: real.weight });
    else if (s.reals.length >= this.maxReals) throw new CapacityError(`reals in service ${serviceId(svc)}`, this.maxReals);
    else s.reals.push({ ...real, counters: zero(), active_conns: 0, inactive_conns: 0, health: 'unchecked', effective_weight: real.weight, sorry: false });
  }

  async removeReal(svc: ServiceKey, address: string, port: number): Promise<void> {
    this.calls.removeReal++;
    const s = this.find(svc);
    const i = s.reals.findIndex((r) => realId(r) === realId({ address, port }));
    if (i < 0) throw new NotFoundError('real', `${realId({ address, port })} in ${serviceId(svc)}`);
    s.reals.splice(i, 1);
  }

  async drops(): Promise<Record<string, bigint>> {
    this.calls.drops++;
    return { no_real: U64_MAX, bad_header: 0n };
  }

  health: HealthReport = {
    checks: [{
      service: 'tcp/203.0.113.100:80', service_key: { vip: '203.0.113.100', port: 80, protocol: 'tcp' },
      real: '10.77.0.11:80', real_address: '10.77.0.11', real_port: 80, type: 'exec', address: '10.77.0.50', port: 8080,
      status: 'up', since: 1_795_000_000_123, successes: 4, failures: 0, weight: 5,
      last: { ok: true, reason: 'exit 7: weight 5', ms: 12.5, at: 1_795_000_001_000 },
      counters: { probes_ok: 9, probes_failed: 2, probes_timed_out: 1, went_up: 2, went_down: 1 },
      method: 'exec',
    }, {
      service: 'tcp/203.0.113.100:80', service_key: { vip: '203.0.113.100', port: 80, protocol: 'tcp' },
      real: '10.77.0.12:80', real_address: '10.77.0.12', real_port: 80, type: 'tcp', address: '10.77.0.12', port: 80,
      status: 'down', since: null, successes: 0, failures: 0, weight: undefined, last: undefined,
      counters: { probes_ok: 0, probes_failed: 0, probes_timed_out: 0, went_up: 0, went_down: 0 },
      method: 'connect', degraded: 'not SYN: packet_socket: socket(AF_PACKET, SOCK_RAW) failed: errno 1: needs CAP_NET_RAW',
    }],
    services: [{ service: 'tcp/203.0.113.100:80', service_key: { vip: '203.0.113.100', port: 80, protocol: 'tcp' }, health: { healthyWeight: 5, quorum: 2, sorryActive: false } }],
    totals: { targets: 2, up: 1, down: 1, probes_started: 12, probes_ok: 9, probes_failed: 2, timed_out: 1, skipped: 0, in_flight: 1, transitions: 3 },
  };
  readonly watchers = new Set<(e: HealthEvent) => void>();

  async listHealth(): Promise<HealthReport> {
    this.calls.listHealth++;
    return structuredClone(this.health);
  }

  watchHealth(listener: (e: HealthEvent) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  capabilities: CapabilityReport = {
    kernel: '6.18.44-test',
    list: [
      { name: 'bpf_jit', available: true, detail: 'programs are JIT-compiled', neededBy: 'every XDP program' },
      { name: 'packet_socket', available: false, detail: 'socket(AF_PACKET, SOCK_RAW) failed: errno 1: needs CAP_NET_RAW', neededBy: 'SYN health checks' },
    ],
    synChecks: { configured: true, running: false, problem: 'packet_socket: socket(AF_PACKET, SOCK_RAW) failed: errno 1: needs CAP_NET_RAW' },
  };

  async getCapabilities(): Promise<CapabilityReport> {
    return structuredClone(this.capabilities);
  }

  /** The overrides listOverrides reports; clearOverrides removes from them. */
  overrides: OverrideStatus[] = [
    { override: { op: 'set', service: 'tcp/203.0.113.100:80', real: spec('10.77.0.11', 80, { weight: 5 }) }, file: spec('10.77.0.11', 80) },
    { override: { op: 'remove', service: 'tcp/[2001:db8::1]:80', address: 'fd00::12', port: 0 }, file: spec('fd00::12', 0, { method: 'dr' }) },
  ];

  async listOverrides(): Promise<OverrideStatus[]> {
    return structuredClone(this.overrides);
  }

  async clearOverrides(svc?: ServiceKey): Promise<OverrideStatus[]> {
    if (svc !== undefined) this.find(svc);
    const goes = (o: OverrideStatus): boolean => svc === undefined || o.override.service === serviceId(svc);
    const cleared = this.overrides.filter(goes);
    this.overrides = this.overrides.filter((o) => !goes(o));
    return cleared;
  }

  /** HA behind the HA calls, as Control's `ha` option; undefined: not configured (E_HA_OFF). */
  ha: HaControl | undefined = undefined;

  async haStatus(): Promise<HaStatus> {
    return new HaCalls(this.ha).status();
  }

  watchHa(listener: (e: HaEvent) => void): () => void {
    return new HaCalls(this.ha).watch(listener);
  }

  async haFailover(): Promise<HaStatus> {
    return new HaCalls(this.ha).failover();
  }

  async setHaHold(on: boolean): Promise<HaStatus> {
    return new HaCalls(this.ha).hold(on);
  }
}
