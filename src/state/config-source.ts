// SPDX-License-Identifier: Apache-2.0
// The config file as a source of desired state, and what a reload (SIGHUP) may change: a file
// that does not load, or that changes what only a restart can (the interfaces, the connection
// table's size), is refused whole and logged, and the running state is kept; health limits
// that only a restart applies are taken with a warning. The rest goes through the pipeline.
// The file is parsed on a worker thread: the API keeps answering while a big one loads.
// The API's overrides are settled against the new file (override-rules.ts): those it makes
// pointless go, and each one that keeps a change of the file from taking effect is reported.

import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { loadConfigOffThread } from '../config/load-off-thread.js';
import { Yielder } from '../model/yielder.js';
import { FlowTableSizeError } from '../errors.js';
import type { StatePipeline } from './pipeline.js';
import type { DesiredStore } from './desired-store.js';
import type { Override, Overrides } from './overrides.js';
import { describeOverride, describeShadow, settleOverrides, shadowedChanges } from './override-rules.js';

export class ConfigSource {
  constructor(
    private readonly path: string,
    private readonly store: DesiredStore,
    private readonly pipeline: StatePipeline,
    private readonly overrides: Overrides,
    private readonly log: Logger,
  ) {}

  /** Re-reads the file; a bad file is logged and the running state kept. Resolves whether it applied. */
  async reload(): Promise<boolean> {
    let config: Config;
    try {
      config = await loadConfigOffThread(this.path);
    } catch (e) {
      this.log.error({ err: e, code: (e as { code?: string }).code }, 'config rejected; keeping the running state');
      return false;
    }
    // Compared with the running config, and applied, in one section: another reload or an API
    // change cannot come between.
    return this.pipeline.exclusive((tx) => this.take(config, (value) => tx.change('config', value)));
  }

  private async take(config: Config, change: (v: { config: Config; overrides: readonly Override[] }) => Promise<void>): Promise<boolean> {
    const { log } = this;
    const running = this.store.committed.config;
    if (config.interfaces.public !== running.interfaces.public || config.interfaces.private !== running.interfaces.private || config.interfaces.mode !== running.interfaces.mode) {
      log.error({ interfaces: config.interfaces }, 'changing interfaces needs a restart of xlvsd; keeping the running state');
      return false;
    }
    if (haText(config) !== haText(running)) {
      log.error({ ha: config.ha === undefined ? null : config.ha.node }, 'changing the ha: section (or its key file) needs a restart of xlvsd; keeping the running state');
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
    const y = new Yielder();
    const { kept, dropped } = settleOverrides(config.desired, this.overrides.entries);
    if (y.due()) await y.pause();
    const shadows = shadowedChanges(running.desired, config.desired, kept);
    if (y.due()) await y.pause();
    try {
      await change({ config, overrides: kept });
    } catch (e) {
      // Checked before any write (capacity, checks that cannot run): the maps hold the old state.
      log.error({ err: e, code: (e as { code?: string }).code }, 'config rejected; keeping the running state');
      return false;
    }
    if (dropped.length > 0) {
      for (const d of dropped) log.info({ service: d.override.service, override: describeOverride(d.override), why: d.why }, `override not kept: ${d.why}`);
      try {
        this.overrides.commit(kept);
      } catch (e) {
        // What runs is right; the dropped ones would come back at a restart, and go again then.
        log.error({ err: e, code: (e as { code?: string }).code }, 'saving the overrides the reload dropped failed; they change nothing now');
      }
    }
    for (const sh of shadows) log.warn({ service: sh.override.service, override: describeOverride(sh.override) }, describeShadow(sh));
    log.info({ config: this.path, overrides: kept.length, shadowed: shadows.length }, 'config reloaded');
    return true;
  }
}

/** The ha: section as compared across a reload (the key by its bytes, never logged). */
function haText(c: Config): string {
  return c.ha === undefined ? '' : JSON.stringify({ ...c.ha, key: c.ha.key.toString('hex') });
}
