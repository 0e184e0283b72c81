// SPDX-License-Identifier: Apache-2.0
// What the gRPC API asks of the daemon: the calls behind the service in proto/xlvs/v1, in the
// model's terms. api/control.ts answers them in xlvsd; the client (api/client.ts) offers the
// same calls to xlvsctl and tests. Here, in the API's folder, so that the model needs nothing
// of health or the host.

import type { HealthEvent, HealthReport } from '../health/report.js';
import type { HaEvent, HaStatus } from '../ha/types.js';
import type { CapabilityReport } from '../host/capabilities.js';
import type { RealSpec, ServiceKey, ServiceStatus } from '../model/types.js';
import type { OverrideStatus } from '../state/override-rules.js';

/** What the gRPC API may ask of the daemon. Every call validates fully before it changes anything. */
export interface ControlApi {
  listServices(): Promise<ServiceStatus[]>;
  /** Adds a real, or updates weight/method/thresholds of an existing one with the same address:port. */
  addReal(svc: ServiceKey, real: RealSpec): Promise<void>;
  removeReal(svc: ServiceKey, address: string, port: number): Promise<void>;
  /** The API's changes in force on top of the config file, each with the file's real beside it. */
  listOverrides(): Promise<OverrideStatus[]>;
  /**
   * Removes the API's changes of one service (every service when none is given): the config
   * file's reals apply again. Returns what it removed; NotFoundError for a service neither the
   * config nor an override knows.
   */
  clearOverrides(svc?: ServiceKey): Promise<OverrideStatus[]>;
  /** Drop counters by reason name (e.g. "no_real"). */
  drops(): Promise<Record<string, bigint>>;
  /** Every health check's state and counters, per-service quorum and sorry state, totals. */
  listHealth(): Promise<HealthReport>;
  /**
   * Health transitions from now on, until the returned function is called. `onError` hears
   * of a watch that broke (a client's lost connection); the daemon's own never does.
   */
  watchHealth(listener: (e: HealthEvent) => void, onError?: (err: Error) => void): () => void;
  /** What the kernel let the daemon do, found at its start, and whether SYN checks run. */
  getCapabilities(): Promise<CapabilityReport>;
  /** High availability's state (HaError E_HA_OFF without an `ha:` section, as every HA call). */
  haStatus(): Promise<HaStatus>;
  /**
   * The current role as an event from = to, then every role change, until the returned function
   * is called. The daemon's throws E_HA_OFF at once; a client's reports it, or a watch that broke
   * (a lost connection), to `onError`.
   */
  watchHa(listener: (e: HaEvent) => void, onError?: (err: Error) => void): () => void;
  /** Hands the master role to the peer (E_HA_NOT_MASTER, E_HA_PEER_DOWN); the status after it. */
  haFailover(): Promise<HaStatus>;
  /** Holds this router as backup (on) or lets it take part again (off); the status after it. */
  setHaHold(on: boolean): Promise<HaStatus>;
}
