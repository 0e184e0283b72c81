// SPDX-License-Identifier: Apache-2.0
// xlvsd's composition root: config -> desired state (+ API overrides) ->
// reconciler -> maps; the reaper; the gRPC API. Every change, whatever its
// source, goes through setDesired(), so there is one path into the maps.

import { dirname, join } from 'node:path';
import type pino from 'pino';
import { loadConfig, type Config } from '../config/index.js';
import { Dataplane } from '../dataplane/handles.js';
import { Reconciler } from '../dataplane/reconcile.js';
import { Reaper } from '../dataplane/reaper.js';
import { Neighbours } from '../dataplane/neighbours.js';
import { SynProber } from '../health/probes/syn.js';
import { probeTcpConnect } from '../health/probes/tcp-connect.js';
import { ifindexOf } from '../kernel/link.js';
import { checkRealFitsService } from '../api/validate.js';
import { sumCounters, readDrops } from '../dataplane/stats.js';
import { Overrides, applyOverrides, type Override } from './overrides.js';
import { startApiServer, type ApiServer } from '../api/server.js';
import { HealthManager } from '../health/manager.js';
import { ExecLimiter } from '../health/probes/exec-limit.js';
import { UnreachableLog } from '../health/probes/udp.js';
import { VipRoutes } from '../health/vip-routes.js';
import type { HealthEvent, HealthReport } from '../health/report.js';
import { FlowTableSizeError, InvalidArgumentError, NotFoundError } from '../errors.js';
import { checkDesiredFitsHealth, checkRealFitsHealth } from './health-fit.js';
import { probeCapabilities } from '../host/capabilities-probe.js';
import { synChecksProblem, type CapabilityReport } from '../host/capabilities.js';
import {
  serviceId, realId, type ControlApi, type DesiredState, type RealSpec, type ServiceKey, type ServiceSpec, type ServiceStatus,
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
  /** Config + API overrides: what the admin asked for. */
  private desired!: DesiredState;
  /** What the data plane runs: `desired` with health applied (weights, evictions, sorry servers). */
  private applied!: DesiredState;
  private api: ApiServer | undefined;
  private health!: HealthManager;
  private synProber: SynProber | undefined;
  private capabilities!: CapabilityReport;

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
    const healthLog = log.child({ part: 'health' });
    d.startSynChecks(healthLog);
    const syn = d.capabilities.synChecks;
    d.health = new HealthManager({
      log: healthLog, stateDir: opts.stateDir, maxProbes: config.health.maxProbes,
      deps: {
        execLimiter: new ExecLimiter(config.health.maxExec), vipRoutes: new VipRoutes(config.interfaces.private, healthLog), synProber: d.synProber,
        unreachable: new UnreachableLog(),
        ...(syn.configured && !syn.running ? { synUnavailable: syn.problem } : {}),
      },
      onChange: () => d.applyHealth(),
    });
    d.setDesired(config, overrides.entries);
    reaper.start();
    neighbours.start();
    d.health.start();
    d.api = await startApiServer(d, opts.listen, log);
    log.info({ listen: d.api.address, config: opts.configPath }, 'xlvsd ready');
    return d;
  }

  /**
   * Asks the kernel what it can do (logged, and served by GetCapabilities), then starts SYN
   * checks if they are configured and can run here. Where they cannot, the reason is logged
   * once here and shown with every tcp check (ListHealth), which uses connect() instead.
   */
  private startSynChecks(log: pino.Logger): void {
    const caps = probeCapabilities(join(dirname(this.opts.objectPath), 'xlvs_caps.bpf.o'));
    const configured = this.config.health.synChecks;
    let problem = configured ? synChecksProblem(caps) : undefined;
    if (configured && problem === undefined) {
      try {
        this.synProber = new SynProber({
          progFd: this.dp.probeTxFd, probesFd: this.dp.maps.probes.fd, batchFd: this.dp.maps.probeBatch.fd, ifindex: ifindexOf(this.config.interfaces.private),
          fallback: (t, timeoutMs, signal) => probeTcpConnect(t, timeoutMs, signal), log,
        });
      } catch (err) {
        problem = `the SYN sender on ${this.config.interfaces.private} could not start: ${(err as Error).message}`;
      }
    }
    this.capabilities = { ...caps, synChecks: { configured, running: this.synProber !== undefined, ...(problem === undefined ? {} : { problem }) } };
    this.opts.log.info({ kernel: caps.kernel, capabilities: Object.fromEntries(caps.list.map((c) => [c.name, c.available ? true : c.detail])) }, 'kernel capabilities');
    if (problem !== undefined) log.warn({ problem }, `health.syn_checks is on, but this host cannot run SYN checks (${problem}): tcp checks use connect()`);
  }

  /** The one way into the maps. Throws (having written nothing) on capacity errors. */
  private setDesired(config: Config, list: readonly Override[]): void {
    const next = applyOverrides(config.desired, list, this.opts.log);
    checkDesiredFitsHealth(next, this.capabilities.synChecks);
    // Health follows the new state first (new reals get their checks' initial state), and
    // goes back to the old one if the data plane refuses the new (capacity: nothing written).
    this.health.sync(next);
    let applied: DesiredState;
    try {
      applied = this.health.overlay(next);
      this.reconciler.apply(applied);
    } catch (e) {
      if (this.desired) this.health.sync(this.desired);
      throw e;
    }
    this.health.commit();
    this.desired = next;
    this.applied = applied;
    this.config = config;
    const reals = new Map(applied.services.flatMap((s) => s.reals.map((r) => [r.address, { address: r.address, family: s.family }] as const)));
    this.neighbours.refresh([...reals.values()]).catch((err: unknown) => this.opts.log.error({ err }, 'keeping the reals\' neighbours resolved failed'));
  }

  /** A health change: the same desired state, re-overlaid and applied. */
  private applyHealth(): void {
    if (!this.desired) return;
    try {
      const applied = this.health.overlay(this.desired);
      this.reconciler.apply(applied);
      this.applied = applied;
    } catch (e) {
      this.opts.log.error({ err: e, code: (e as { code?: string }).code }, 'applying a health change failed; the data plane keeps the previous weights');
    }
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
    if (config.health.maxProbes !== this.config.health.maxProbes || config.health.maxExec !== this.config.health.maxExec || config.health.synChecks !== this.config.health.synChecks) {
      log.warn({ health: config.health, running: this.config.health }, 'health.max_probes, max_exec and syn_checks take effect at the next restart of xlvsd');
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
    const configured = new Map(this.desired.services.map((s) => [serviceId(s), s]));
    return this.applied.services.map((s) => {
      const id = serviceId(s);
      const slots = this.reconciler.slotsOf(id)!;
      const base = configured.get(id)!;
      const weights = new Map(base.reals.map((r) => [realId(r), r.weight]));
      const { reals, ...head } = base;
      return {
        ...head,
        counters: sumCounters(svcStats ? svcStats.get(slots.id) : m.svcStats.lookup(slots.id)),
        reals: s.reals.map((r) => {
          const rid = realId(r);
          const slot = slots.reals.get(rid)!.id;
          const conns = realConns ? realConns.get(slot) : m.realConns.lookup(slot);
          const { evict: _evict, sorry: _sorry, check: _check, ...spec } = r;
          return {
            ...spec,
            weight: weights.get(rid) ?? base.sorry_server?.weight ?? r.weight,
            counters: sumCounters(realStats ? realStats.get(slot) : m.realStats.lookup(slot)),
            active_conns: connCount(conns?.active), inactive_conns: connCount(conns?.inactive),
            health: r.sorry ? 'unchecked' as const : this.health.statusOf(id, rid) ?? 'unchecked' as const,
            effective_weight: r.weight,
            sorry: r.sorry === true,
          };
        }),
      };
    });
  }

  async addReal(svc: ServiceKey, real: RealSpec): Promise<void> {
    const s = this.service(svc);
    checkRealFitsService('real', real, s, this.desired.local);
    checkRealFitsHealth(real, s, this.capabilities.synChecks);
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

  async listHealth(): Promise<HealthReport> {
    return this.health.report(this.desired);
  }

  watchHealth(listener: (e: HealthEvent) => void): () => void {
    return this.health.watch(listener);
  }

  async getCapabilities(): Promise<CapabilityReport> {
    return this.capabilities;
  }

  /** Stops the daemon; the pinned data plane keeps forwarding. */
  async stop(): Promise<void> {
    await this.health.stop();
    this.synProber?.close();
    this.reaper.stop();
    await this.neighbours.stop();
    await this.api?.close();
    this.dp.close();
    this.opts.log.info('xlvsd stopped; data plane left running');
  }
}
