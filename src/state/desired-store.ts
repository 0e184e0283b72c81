// SPDX-License-Identifier: Apache-2.0
// The desired state, versioned, and its sources: the config file (`config`) and the changes
// made over the API (`api`: overrides on top of the file); high availability will be a third.
// The state is their merge. Every committed change bumps the version and is announced; what
// commits one is the pipeline (pipeline.ts), and only once the data plane has taken it, so the
// store always holds what runs.

import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { DesiredState } from '../model/types.js';
import { applyOverrides, type Override } from './overrides.js';

export type StateSource = 'config' | 'api';

/** What each source holds. */
export interface SourceValues {
  config: Config;
  overrides: readonly Override[];
}

/** A change announced to listeners: which source, and the version it made. */
export interface StateChange {
  source: StateSource;
  version: number;
}

/** A merge worked out before it is committed: the sources it came from and the state. */
export interface Proposal extends SourceValues {
  state: DesiredState;
}

export class DesiredStore {
  private v = 0;
  private current: Proposal | undefined;
  private readonly events = new EventEmitter();

  constructor(private readonly log: Pick<Logger, 'warn'>) {
    this.events.setMaxListeners(0);
  }

  /** Bumped by every commit; 0 before the first. */
  get version(): number {
    return this.v;
  }

  /** The committed sources and their merge. Throws before the first commit. */
  get committed(): Proposal {
    if (!this.current) throw new Error('the desired state has not been committed yet');
    return this.current;
  }

  /** The state with one or both sources replaced; nothing changes until commit(). */
  propose(next: Partial<SourceValues>): Proposal {
    const config = next.config ?? this.current?.config;
    if (!config) throw new Error('the first proposal must bring the config');
    const overrides = next.overrides ?? this.current?.overrides ?? [];
    return { config, overrides, state: applyOverrides(config.desired, overrides, this.log) };
  }

  commit(p: Proposal, source: StateSource): void {
    this.current = p;
    this.v++;
    this.events.emit('change', { source, version: this.v } satisfies StateChange);
  }

  /** Every committed change from now on; returns the unsubscribe function. */
  onChange(listener: (c: StateChange) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }
}
