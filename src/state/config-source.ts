// SPDX-License-Identifier: Apache-2.0
// The config file as a source of desired state, and what a reload (SIGHUP) may change: a file
// that does not load, or that changes what only a restart can (the interfaces, the connection
// table's size), is refused whole and logged, and the running state is kept; health limits
// that only a restart applies are taken with a warning. The rest goes through the pipeline.

import type { Logger } from 'pino';
import { loadConfig, type Config } from '../config/index.js';
import { FlowTableSizeError } from '../errors.js';
import type { StatePipeline } from './pipeline.js';
import type { DesiredStore } from './desired-store.js';

export class ConfigSource {
  constructor(
    private readonly path: string,
    private readonly store: DesiredStore,
    private readonly pipeline: StatePipeline,
    private readonly log: Logger,
  ) {}

  /** Re-reads the file; a bad file is logged and the running state kept. Resolves whether it applied. */
  async reload(): Promise<boolean> {
    const { log } = this;
    let config: Config;
    try {
      config = await loadConfig(this.path);
    } catch (e) {
      log.error({ err: e, code: (e as { code?: string }).code }, 'config rejected; keeping the running state');
      return false;
    }
    const running = this.store.committed.config;
    if (config.interfaces.public !== running.interfaces.public || config.interfaces.private !== running.interfaces.private || config.interfaces.mode !== running.interfaces.mode) {
      log.error({ interfaces: config.interfaces }, 'changing interfaces needs a restart of xlvsd; keeping the running state');
      return false;
    }
    if (config.health.maxProbes !== running.health.maxProbes || config.health.maxExec !== running.health.maxExec || config.health.synChecks !== running.health.synChecks) {
      log.warn({ health: config.health, running: running.health }, 'health.max_probes, max_exec and syn_checks take effect at the next restart of xlvsd');
    }
    if (config.flowEntries !== running.flowEntries) {
      const err = new FlowTableSizeError(running.flowEntries, config.flowEntries);
      log.error({ err, code: err.code }, 'config rejected; keeping the running state');
      return false;
    }
    try {
      this.pipeline.change('config', { config });
    } catch (e) {
      // Checked before any write (capacity, checks that cannot run): the maps hold the old state.
      log.error({ err: e, code: (e as { code?: string }).code }, 'config rejected; keeping the running state');
      return false;
    }
    log.info({ config: this.path }, 'config reloaded');
    return true;
  }
}
