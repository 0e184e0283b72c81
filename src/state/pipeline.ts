// SPDX-License-Identifier: Apache-2.0
// The one way into the data plane: every source of desired state (the config file, the API,
// later high availability) and every health change goes through here, and nothing else writes
// the maps. A change runs merge -> check -> health overlay -> reconcile:
//  - merge: the store proposes the state with the source's new value (desired-store.ts);
//  - check: every health check can run as configured on this host (health-fit.ts);
//  - overlay: the health checker follows the new state, and applies health to it;
//  - reconcile: the data plane is written to the applied state (dataplane/reconcile.ts).
// The store commits the change only once the data plane has taken it; a change refused on the
// way (a bad check, capacity) changes nothing, and the caller gets the error. Changes run one at
// a time (exclusive()); an apply gives the event loop a turn every few milliseconds, so reads
// (the API) are answered meanwhile, from the state before the change.

import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { HealthManager } from '../health/manager.js';
import type { Reconciler } from '../dataplane/reconcile.js';
import type { NeighbourTarget } from '../dataplane/neighbours.js';
import type { AppliedState, DesiredState } from '../model/types.js';
import { checkDesiredFitsHealth, type SynChecks } from './health-fit.js';
import { Yielder } from '../model/yielder.js';
import type { DesiredStore, SourceValues, StateSource } from './desired-store.js';

export interface PipelineOptions {
  store: DesiredStore;
  health: HealthManager;
  reconciler: Reconciler;
  /** What SYN checks are in this daemon: what the checks are held to. */
  syn: SynChecks;
  /** The reals' next hops to keep resolved, after each change (host I/O, not awaited). */
  refreshNeighbours: (targets: NeighbourTarget[]) => Promise<unknown>;
  log: Logger;
}

/** Changes made inside one exclusive section (see StatePipeline.exclusive). */
export interface Transaction {
  /** A new value of one source, all the way to the data plane (see StatePipeline.change). */
  change(source: StateSource, value: Partial<SourceValues>): Promise<void>;
}

export class StatePipeline {
  private appliedState: AppliedState | undefined;
  /** The end of the last section queued: changes run one after another, never interleaved. */
  private tail: Promise<unknown> = Promise.resolve();
  private refreshQueued = false;

  constructor(private readonly opts: PipelineOptions) {}

  /** What the data plane runs now. Throws before the first change. */
  get applied(): AppliedState {
    if (!this.appliedState) throw new Error('nothing has been applied yet');
    return this.appliedState;
  }

  /** The config file as committed (the API's overrides not applied). */
  get config(): Config {
    return this.opts.store.committed.config;
  }

  /** The committed desired state (config and API merged). */
  get desired(): DesiredState {
    return this.opts.store.committed.state;
  }

  /**
   * Runs fn once every section queued before it is done, and before any queued after it: a
   * read-modify-write of a source (the API's overrides) cannot lose another's change. Reads of
   * the committed and applied state go on meanwhile, and see the state before the section.
   */
  exclusive<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const run = this.tail.then(() => fn({ change: (source, value) => this.apply(source, value) }));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * A new value of one source, all the way to the data plane. Rejects, having changed nothing,
   * when a check cannot run or the data plane cannot take the state (capacity: nothing is
   * written then).
   */
  change(source: StateSource, value: Partial<SourceValues>): Promise<void> {
    return this.exclusive((tx) => tx.change(source, value));
  }

  /** Resolves once every change queued so far is done (the daemon is stopping). */
  async idle(): Promise<void> {
    await this.tail;
  }

  /** Health changed what it applies: the same desired state, overlaid again and written (once, however often asked while queued). */
  refresh(): void {
    if (this.opts.store.version === 0 || this.refreshQueued) return;
    this.refreshQueued = true;
    void this.exclusive(async () => {
      this.refreshQueued = false;
      try {
        const applied = await this.opts.health.overlay(this.desired);
        await this.opts.reconciler.apply(applied);
        this.appliedState = applied;
      } catch (e) {
        this.opts.log.error({ err: e, code: (e as { code?: string }).code }, 'applying a health change failed; the data plane keeps the previous weights');
      }
    });
  }

  /** Inside a section only. Each stage is a few ms per thousand services: the loop gets a turn between them. */
  private async apply(source: StateSource, value: Partial<SourceValues>): Promise<void> {
    const { store, health, reconciler, syn } = this.opts;
    const y = new Yielder();
    const p = store.propose(value);
    if (y.due()) await y.pause();
    checkDesiredFitsHealth(p.state, syn);
    if (y.due()) await y.pause();
    // Health follows the new state first (new reals get their checks' initial state), and goes
    // back to the old one if the data plane refuses the new.
    health.sync(p.state);
    let applied: AppliedState;
    try {
      if (y.due()) await y.pause();
      applied = await health.overlay(p.state);
      if (y.due()) await y.pause();
      await reconciler.apply(applied);
    } catch (e) {
      if (store.version > 0) health.sync(store.committed.state);
      throw e;
    }
    health.commit();
    store.commit(p, source);
    this.appliedState = applied;
    const reals = new Map(applied.services.flatMap((s) => s.reals.map((r) => [r.address, { address: r.address, family: s.family }] as const)));
    this.opts.refreshNeighbours([...reals.values()]).catch((err: unknown) => this.opts.log.error({ err }, 'keeping the reals\' neighbours resolved failed'));
  }
}
