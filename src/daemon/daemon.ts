// SPDX-License-Identifier: Apache-2.0
// xlvsd's composition root: config -> desired state (+ API overrides) ->
// reconciler -> maps; the reaper; the gRPC API. Every change, whatever its
// source, goes through setDesired(), so there is one path into the maps.

import type pino from 'pino';
import { loadConfig, type Config } from '../config/index.js';
import { Dataplane } from '../dataplane/handles.js';
import { Reconciler } from '../dataplane/reconcile.js';
import { Reaper } from '../dataplane/reaper.js';
import { Neighbours } from '../dataplane/neighbours.js';
import { checkRealFitsService } from '../api/validate.js';
import { sumCounters, readDrops } from '../dataplane/stats.js';
import { Overrides, applyOverrides, type Override } from './overrides.js';
import { startApiServer, type ApiServer } from '../api/server.js';
import { FlowTableSizeError, NotFoundError } from '../errors.js';
import {
  serviceId, realId, type ControlApi, type DesiredState, type RealSpec, type ServiceKey, type ServiceStatus,
} from '../model/types.js';

/** The data plane's counts are u32 updated with atomic adds; one that raced below zero reads 0. */
const connCount = (v: number | undefined): number => (v === undefined || v >= 0x80000000 ? 0 : v);

/** Above this many reals, listServices reads the counter maps whole instead of per real. */
const BATCH_LIST_REALS = 512;

export interface DaemonOptions {
  configPath: string;
  objectPath: string;
  pinDir: string;
  stateDir: string;
  listen: string;
  reapIntervalMs: number;
  log: pino.Logger;
}

export class Daemon implements ControlApi {
  private desired!: DesiredState;
  private api: ApiServer | undefined;

  private constructor(
    private readonly opts: DaemonOptions,
    private config: Config,
    private readonly dp: Dataplane,
    private readonly reconciler: Reconciler,
    private readonly overrides: Overrides,
    private readonly reaper: Reaper,
    private readonly neighbours: Neighbours,
  ) {}

  static async start(opts: DaemonOptions): Promise<Daemon> {
    const { log } = opts;
    const config = await loadConfig(opts.configPath);
    const overrides = new Overrides(opts.stateDir);
    const dp = Dataplane.load(opts.objectPath, opts.pinDir, config.interfaces, config.flowEntries, log);
    const reconciler = new Reconciler(dp.maps, log);
    if (dp.adopted) reconciler.adopt();
    const reaper = new Reaper(dp.reapFd, opts.reapIntervalMs, log);
    // dr/tun/fullnat packets cannot be handed to the kernel while a next hop is unresolved, so
    // the reals' neighbours are kept resolved (managed entries) rather than learnt on demand.
    const neighbours = new Neighbours({ dev: config.interfaces.private, log });
    const d = new Daemon(opts, config, dp, reconciler, overrides, reaper, neighbours);
    d.setDesired(config, overrides.entries);
    reaper.start();
    neighbours.start();
    d.api = await startApiServer(d, opts.listen, log);
    log.info({ listen: d.api.address, config: opts.configPath }, 'xlvsd ready');
    return d;
  }

  /** The one way into the maps. Throws (having written nothing) on capacity errors. */
  private setDesired(config: Config, list: readonly Override[]): void {
    const next = applyOverrides(config.desired, list, this.opts.log);
    this.reconciler.apply(next);
    this.desired = next;
    this.config = config;
    const reals = new Map(next.services.flatMap((s) => s.reals.map((r) => [r.address, { address: r.address, family: s.family }] as const)));
    this.neighbours.refresh([...reals.values()]).catch((err: unknown) => this.opts.log.error({ err }, 'keeping the reals\' neighbours resolved failed'));
  }

  /** Re-reads the config file; a bad file is logged and the running state kept. */
  async reload(): Promise<boolean> {
    const { log } = this.opts;
    let config: Config;
    try {
      config = await loadConfig(this.opts.configPath);
    } catch (e) {
      log.error({ err: e, code: (e as { code?: string }).code }, 'config rejected; keeping the running state');
      return false;
    }
    if (config.interfaces.public !== this.config.interfaces.public || config.interfaces.private !== this.config.interfaces.private || config.interfaces.mode !== this.config.interfaces.mode) {
      log.error({ interfaces: config.interfaces }, 'changing interfaces needs a restart of xlvsd; keeping the running state');
      return false;
    }
    if (config.flowEntries !== this.config.flowEntries) {
      const err = new FlowTableSizeError(this.config.flowEntries, config.flowEntries);
      log.error({ err, code: err.code }, 'config rejected; keeping the running state');
      return false;
    }
    try {
      this.setDesired(config, this.overrides.entries);
    } catch (e) {
      // Capacity is checked before any write, so the maps still hold the old state.
      log.error({ err: e, code: (e as { code?: string }).code }, 'config rejected; keeping the running state');
      return false;
    }
    log.info({ config: this.opts.configPath }, 'config reloaded');
    return true;
  }

  private service(svc: ServiceKey) {
    const s = this.desired.services.find((x) => serviceId(x) === serviceId(svc));
    if (!s) throw new NotFoundError('service', serviceId(svc));
    return s;
  }

  async listServices(): Promise<ServiceStatus[]> {
    const m = this.dp.maps;
    const nReals = this.desired.services.reduce((n, s) => n + s.reals.length, 0);
    // Many reals: a few batch reads of whole maps beat a lookup pair per real (80,000 reals took
    // seconds in syscalls alone); few reals: the lookups read less.
    const batch = nReals > BATCH_LIST_REALS;
    const readAll = <V>(map: { entries(): Iterable<[number, V]> }): Map<number, V> | undefined => (batch ? new Map(map.entries()) : undefined);
    const svcStats = readAll(m.svcStats), realStats = readAll(m.realStats), realConns = readAll(m.realConns);
    return this.desired.services.map((s) => {
      const slots = this.reconciler.slotsOf(serviceId(s))!;
      const { reals, ...head } = s;
      return {
        ...head,
        counters: sumCounters(svcStats ? svcStats.get(slots.id) : m.svcStats.lookup(slots.id)),
        reals: reals.map((r) => {
          const id = slots.reals.get(realId(r))!.id;
          const conns = realConns ? realConns.get(id) : m.realConns.lookup(id);
          return {
            ...r,
            counters: sumCounters(realStats ? realStats.get(id) : m.realStats.lookup(id)),
            active_conns: connCount(conns?.active), inactive_conns: connCount(conns?.inactive),
          };
        }),
      };
    });
  }

  async addReal(svc: ServiceKey, real: RealSpec): Promise<void> {
    const s = this.service(svc);
    checkRealFitsService('real', real, s, this.desired.local);
    this.commitOverride(this.overrides.with(svc, { real }));
    this.opts.log.info({ service: serviceId(svc), real: realId(real), weight: real.weight }, 'real set over the API');
  }

  async removeReal(svc: ServiceKey, address: string, port: number): Promise<void> {
    const s = this.service(svc);
    if (!s.reals.some((r) => realId(r) === realId({ address, port }))) throw new NotFoundError('real', `${realId({ address, port })} in ${serviceId(svc)}`);
    this.commitOverride(this.overrides.with(svc, { address, port }));
    this.opts.log.info({ service: serviceId(svc), real: realId({ address, port }) }, 'real removed over the API');
  }

  /** Applies, then saves; if saving fails the maps are put back as they were. */
  private commitOverride(next: Override[]): void {
    const before = this.overrides.entries;
    this.setDesired(this.config, next);
    try {
      this.overrides.commit(next);
    } catch (e) {
      this.setDesired(this.config, before);
      throw e;
    }
  }

  async drops(): Promise<Record<string, bigint>> {
    return readDrops(this.dp.maps);
  }

  /** Stops the daemon; the pinned data plane keeps forwarding. */
  async stop(): Promise<void> {
    this.reaper.stop();
    await this.neighbours.stop();
    await this.api?.close();
    this.dp.close();
    this.opts.log.info('xlvsd stopped; data plane left running');
  }
}
