// SPDX-License-Identifier: Apache-2.0
// What the gRPC API's calls do (ControlApi): reads join the desired state, the applied state,
// the maps and health; a change is an API override (state/overrides.ts) that goes through the
// state pipeline like any other source, and is saved only once the data plane took it.

import type { Logger } from 'pino';
import type { Maps } from '../dataplane/handles.js';
import type { Reconciler } from '../dataplane/reconcile.js';
import { readDrops } from '../dataplane/stats.js';
import type { HealthManager } from '../health/manager.js';
import type { HealthEvent, HealthReport } from '../health/report.js';
import type { CapabilityReport } from '../host/capabilities.js';
import type { HaControl, HaEvent, HaStatus } from '../ha/types.js';
import { NotFoundError } from '../errors.js';
import type { ControlApi } from './control-api.js';
import { HaCalls } from './ha-calls.js';
import { realId, serviceId, type RealSpec, type ServiceKey, type ServiceSpec, type ServiceStatus } from '../model/types.js';
import type { StatePipeline } from '../state/pipeline.js';
import type { Override, Overrides } from '../state/overrides.js';
import { describeOverride, overrideStatuses, settleOverrides, type OverrideStatus } from '../state/override-rules.js';
import { checkRealFitsHealth } from '../state/health-fit.js';
import { checkRealFitsService } from './validate.js';
import { serviceStatuses } from './service-status.js';

export interface ControlOptions {
  pipeline: StatePipeline;
  /** The API source's saved overrides. */
  overrides: Overrides;
  maps: Maps;
  reconciler: Reconciler;
  health: HealthManager;
  capabilities: CapabilityReport;
  /** High availability (the daemon's HA manager); absent without an `ha:` section: every HA call is E_HA_OFF. */
  ha?: HaControl;
  log: Logger;
}

export class Control implements ControlApi {
  private readonly ha: HaCalls;

  constructor(private readonly o: ControlOptions) {
    this.ha = new HaCalls(o.ha);
  }

  private service(svc: ServiceKey): ServiceSpec {
    const s = this.o.pipeline.desired.services.find((x) => serviceId(x) === serviceId(svc));
    if (!s) throw new NotFoundError('service', serviceId(svc));
    return s;
  }

  async listServices(): Promise<ServiceStatus[]> {
    const { pipeline, maps, reconciler, health } = this.o;
    return serviceStatuses({
      desired: pipeline.desired, applied: pipeline.applied, maps,
      slotsOf: (id) => reconciler.slotsOf(id), healthOf: (svc, real) => health.statusOf(svc, real),
    });
  }

  async addReal(svc: ServiceKey, real: RealSpec): Promise<void> {
    await this.commitOverride(() => {
      const s = this.service(svc);
      checkRealFitsService('real', real, s, this.o.pipeline.desired.local);
      checkRealFitsHealth(real, s, this.o.capabilities.synChecks);
      return this.o.overrides.with(svc, { real });
    });
    this.o.log.info({ service: serviceId(svc), real: realId(real), weight: real.weight }, 'real set over the API');
  }

  async removeReal(svc: ServiceKey, address: string, port: number): Promise<void> {
    await this.commitOverride(() => {
      const s = this.service(svc);
      if (!s.reals.some((r) => realId(r) === realId({ address, port }))) throw new NotFoundError('real', `${realId({ address, port })} in ${serviceId(svc)}`);
      return this.o.overrides.with(svc, { address, port });
    });
    this.o.log.info({ service: serviceId(svc), real: realId({ address, port }) }, 'real removed over the API');
  }

  async listOverrides(): Promise<OverrideStatus[]> {
    return overrideStatuses(this.o.pipeline.config.desired, this.o.overrides.entries);
  }

  async clearOverrides(svc?: ServiceKey): Promise<OverrideStatus[]> {
    let cleared: Override[] = [];
    await this.commitOverride(() => {
      const all = this.o.overrides.entries;
      if (svc === undefined) {
        cleared = [...all];
        return [];
      }
      const id = serviceId(svc);
      cleared = all.filter((o) => o.service === id);
      // A typo is an error; a service of the config without overrides just has none to clear.
      if (cleared.length === 0 && !this.o.pipeline.desired.services.some((s) => serviceId(s) === id)) throw new NotFoundError('service', id);
      return all.filter((o) => o.service !== id);
    });
    for (const o of cleared) this.o.log.info({ service: o.service, override: describeOverride(o) }, 'API override cleared; the config file has its say');
    return overrideStatuses(this.o.pipeline.config.desired, cleared);
  }

  /**
   * In one exclusive section of the pipeline: checks and makes the new override list against the
   * state as it is then (no concurrent change is lost), keeps of it only what changes something
   * on top of the config file (override-rules.ts), applies that, then saves it; if saving fails
   * the maps are put back as they were.
   */
  private commitOverride(make: () => Override[]): Promise<void> {
    const { pipeline, overrides, log } = this.o;
    return pipeline.exclusive(async (tx) => {
      const before = overrides.entries;
      const { kept, dropped } = settleOverrides(pipeline.config.desired, make());
      await tx.change('api', { overrides: kept });
      try {
        overrides.commit(kept);
      } catch (e) {
        await tx.change('api', { overrides: before });
        throw e;
      }
      for (const d of dropped) log.info({ service: d.override.service, override: describeOverride(d.override), why: d.why }, `override not kept: ${d.why}`);
    });
  }

  async drops(): Promise<Record<string, bigint>> {
    return readDrops(this.o.maps);
  }

  async listHealth(): Promise<HealthReport> {
    return this.o.health.report(this.o.pipeline.desired);
  }

  watchHealth(listener: (e: HealthEvent) => void): () => void {
    return this.o.health.watch(listener);
  }

  async getCapabilities(): Promise<CapabilityReport> {
    return this.o.capabilities;
  }

  haStatus(): Promise<HaStatus> {
    return this.ha.status();
  }

  watchHa(listener: (e: HaEvent) => void): () => void {
    return this.ha.watch(listener);
  }

  async haFailover(): Promise<HaStatus> {
    const s = await this.ha.failover();
    this.o.log.info({ role: s.role, peer: s.peer.name, peerRole: s.peer.role }, 'ha failover asked over the API');
    return s;
  }

  async setHaHold(on: boolean): Promise<HaStatus> {
    const s = await this.ha.hold(on);
    this.o.log.info({ hold: on, role: s.role }, on ? 'ha hold set over the API' : 'ha hold released over the API');
    return s;
  }
}
