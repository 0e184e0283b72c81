// SPDX-License-Identifier: Apache-2.0
// xlvsd's composition root: loads the data plane and wires the parts together, nothing else.
//  - state: the desired-state store and the one pipeline into the maps (src/state/);
//  - sources: the config file (ConfigSource, SIGHUP), the API's overrides (api/control.ts),
//    health (its changes re-run the pipeline);
//  - upkeep: the reaper, the reals' neighbours;
//  - the gRPC API over api/control.ts.

import { existsSync } from 'node:fs';
import type pino from 'pino';
import { loadConfig, type Config } from '../config/index.js';
import { Dataplane } from '../dataplane/handles.js';
import { Reconciler } from '../dataplane/reconcile.js';
import { Reaper } from '../dataplane/reaper.js';
import { Neighbours } from '../dataplane/neighbours.js';
import { NextHopMisses } from '../dataplane/nexthop-misses.js';
import { startApiServer, type ApiServer } from '../api/server.js';
import { Control } from '../api/control.js';
import { HealthManager } from '../health/manager.js';
import { ExecLimiter } from '../health/probes/exec-limit.js';
import { UnreachableLog } from '../health/probes/udp.js';
import { VipRoutes } from '../health/vip-routes.js';
import type { SynProber } from '../health/probes/syn.js';
import { Overrides } from '../state/overrides.js';
import { describeOverride, settleOverrides } from '../state/override-rules.js';
import { DesiredStore } from '../state/desired-store.js';
import { StatePipeline } from '../state/pipeline.js';
import { ConfigSource } from '../state/config-source.js';
import { startSynChecks } from './syn-checks.js';
import { claimPinDir } from './pin-dir.js';
import { warnIfStateLost } from '../state/state-dir.js';
import type { PinDirLock } from '../kernel/pin-dir-lock.js';
import { ifindexOf } from '../kernel/link.js';
import { startHa } from './ha-start.js';
import type { HaManager } from '../ha/manager.js';

export interface DaemonOptions {
  configPath: string;
  objectPath: string;
  pinDir: string;
  stateDir: string;
  listen: string;
  reapIntervalMs: number;
  log: pino.Logger;
  /** Start even when the pin dir's bpffs is private to this mount namespace (pins die with xlvsd). */
  allowPrivateBpffs?: boolean;
  /** Group id given the API's unix socket (mode 0660); default the daemon's own. */
  socketGroup?: number;
}

export class Daemon {
  /** The pin dir's owner lock, held from the first thing start() does until stop(). */
  private lock: PinDirLock | undefined;

  private constructor(
    private readonly log: pino.Logger,
    private readonly dp: Dataplane,
    private readonly health: HealthManager,
    private readonly vipRoutes: VipRoutes,
    private readonly synProber: SynProber | undefined,
    private readonly reaper: Reaper,
    private readonly neighbours: Neighbours,
    private readonly nextHops: NextHopMisses,
    private readonly config: ConfigSource,
    private readonly api: ApiServer,
    private readonly pipeline: StatePipeline,
    private readonly reconciler: Reconciler,
    private readonly ha: HaManager | undefined,
  ) {}

  static async start(opts: DaemonOptions): Promise<Daemon> {
    // One daemon owns a pin dir: checked before anything reads or writes a map.
    const lock = claimPinDir(opts.pinDir, opts.allowPrivateBpffs ?? false, opts.log);
    try {
      const daemon = await Daemon.startOwned(opts);
      daemon.lock = lock;
      return daemon;
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  private static async startOwned(opts: DaemonOptions): Promise<Daemon> {
    const { log } = opts;
    const config = await loadConfig(opts.configPath);
    const stateDirFound = existsSync(opts.stateDir);
    const overrides = new Overrides(opts.stateDir, log);
    const dp = Dataplane.load(opts.objectPath, opts.pinDir, config.interfaces, config.flowEntries, log);
    warnIfStateLost({ stateDir: opts.stateDir, found: stateDirFound, adopted: dp.adopted, pinDir: opts.pinDir }, log);
    const reconciler = new Reconciler(dp.maps, log, { privateIfindex: ifindexOf(config.interfaces.private) });
    if (dp.adopted) reconciler.adopt();
    const reaper = new Reaper(dp.reapFd, opts.reapIntervalMs, log);
    // dr/tun/fullnat packets cannot be handed to the kernel while a next hop is unresolved, so
    // the reals' neighbours are kept resolved (managed entries) rather than learnt on demand.
    const neighbours = new Neighbours({ dev: config.interfaces.private, log });
    // Every other next hop the data plane finds unresolved (the clients' side) is resolved when it reports it.
    // Looked at every 5 ms (a look at an empty ring is two loads): a router that has just taken
    // over (HA) knows no client yet, and each client's first reply waits for this.
    const nextHops = new NextHopMisses({ ringFd: dp.nhMissesFd, log, intervalMs: 5 });
    const healthLog = log.child({ part: 'health' });
    const syn = startSynChecks(opts.objectPath, config, dp, log, healthLog);
    const synState = syn.capabilities.synChecks;
    let pipeline: StatePipeline | undefined;
    const vipRoutes = new VipRoutes(config.interfaces.private, healthLog);
    const health = new HealthManager({
      log: healthLog, stateDir: opts.stateDir, maxProbes: config.health.maxProbes,
      deps: {
        execLimiter: new ExecLimiter(config.health.maxExec), vipRoutes, synProber: syn.prober,
        unreachable: new UnreachableLog(),
        ...(synState.configured && !synState.running ? { synUnavailable: synState.problem } : {}),
      },
      onChange: () => pipeline?.refresh(),
    });
    const store = new DesiredStore(log);
    pipeline = new StatePipeline({
      store, health, reconciler, syn: synState, log,
      refreshNeighbours: (targets) => neighbours.refresh(targets),
    });
    await takeSavedOverrides(pipeline, config, overrides, log);
    reaper.start();
    neighbours.start();
    nextHops.start();
    health.start();
    // High availability once the state is applied: the floating set follows the VIPs in force.
    const ha = await startHa({ config, dp, reconciler, store, stateDir: opts.stateDir, log });
    const control = new Control({ pipeline, overrides, maps: dp.maps, reconciler, health, capabilities: syn.capabilities, log, ...(ha ? { ha } : {}) });
    const api = await startApiServer(control, opts.listen, log, opts.socketGroup === undefined ? {} : { socketGroup: opts.socketGroup });
    log.info({ listen: api.address, config: opts.configPath }, 'xlvsd ready');
    return new Daemon(log, dp, health, vipRoutes, syn.prober, reaper, neighbours, nextHops, new ConfigSource(opts.configPath, store, pipeline, overrides, log), api, pipeline, reconciler, ha);
  }

  /** Re-reads the config file (SIGHUP); a bad file is logged and the running state kept. */
  reload(): Promise<boolean> {
    return this.config.reload();
  }

  /**
   * Stops the daemon; the pinned data plane keeps forwarding. With HA, 'restart' (SIGTERM) keeps
   * the role (a master's lease covers the restart, the peer holds off); 'leave' (SIGUSR2) hands
   * over at once with a GOODBYE.
   */
  async stop(mode: 'restart' | 'leave' = 'restart'): Promise<void> {
    await this.ha?.stop(mode);
    await this.health.stop();
    this.vipRoutes.close();
    this.synProber?.close();
    this.reaper.stop();
    await this.neighbours.stop();
    this.nextHops.stop();
    await this.api.close();
    // A change under way finishes (the maps stay consistent); tables still to drop stay for the next start.
    await this.pipeline.idle();
    await this.reconciler.stop();
    this.dp.close();
    this.lock?.release();
    this.log.info('xlvsd stopped; data plane left running');
  }
}

/**
 * The first change: the config with the saved API overrides that still change something on top
 * of it (override-rules.ts); each one in force is logged, so a restart says what beats the file.
 */
async function takeSavedOverrides(pipeline: StatePipeline, config: Config, overrides: Overrides, log: pino.Logger): Promise<void> {
  const { kept, dropped } = settleOverrides(config.desired, overrides.entries);
  await pipeline.change('config', { config, overrides: kept });
  for (const d of dropped) log.info({ service: d.override.service, override: describeOverride(d.override), why: d.why }, `saved override not kept: ${d.why}`);
  if (dropped.length > 0) overrides.commit(kept);
  for (const o of kept) log.info({ service: o.service, override: describeOverride(o) }, 'API override in force over the config file');
}
