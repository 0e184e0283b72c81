// SPDX-License-Identifier: Apache-2.0
// Health states saved in the state dir (health.json), so a restarted xlvsd starts every check
// where it was: a real that was down stays down until it proves itself, and one that was up is
// not taken out for `initial: down` while its first probes run. A saved state only applies to
// the same check of the same real (its key); anything else starts from the check's `initial`.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { HealthStatus } from './state.js';

/** Writes are coalesced: a burst of transitions is one file write. */
export const STORE_WRITE_DELAY_MS = 200;

interface Saved {
  key: string;
  status: HealthStatus;
}

export class HealthStore {
  private readonly file: string;
  private readonly saved = new Map<string, Saved>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(stateDir: string, private readonly log: Pick<Logger, 'error' | 'warn'>) {
    mkdirSync(stateDir, { recursive: true });
    this.file = join(stateDir, 'health.json');
    this.load();
  }

  get(id: string, key: string): HealthStatus | undefined {
    const s = this.saved.get(id);
    return s && s.key === key ? s.status : undefined;
  }

  set(id: string, key: string, status: HealthStatus): void {
    this.saved.set(id, { key, status });
    this.later();
  }

  /** Forgets targets that no longer exist. */
  retain(ids: ReadonlySet<string>): void {
    let changed = false;
    for (const id of this.saved.keys()) {
      if (!ids.has(id)) {
        this.saved.delete(id);
        changed = true;
      }
    }
    if (changed) this.later();
  }

  /** Writes now if a write is pending (at stop). */
  async flush(): Promise<void> {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.write();
  }

  private later(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.write();
    }, STORE_WRITE_DELAY_MS);
    this.timer.unref();
  }

  private write(): void {
    const tmp = `${this.file}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify({ version: 1, targets: Object.fromEntries(this.saved) }));
      renameSync(tmp, this.file);
    } catch (err) {
      // Health keeps working without the file; a restart then starts checks from `initial`.
      this.log.error({ err, file: this.file }, 'saving health states failed');
    }
  }

  /** A damaged file is reported and ignored: every check then proves itself again. */
  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log.error({ err: e, file: this.file }, 'reading saved health states failed; checks start from their initial state');
      return;
    }
    try {
      const data = JSON.parse(text) as { version?: unknown; targets?: Record<string, Partial<Saved>> };
      if (data.version !== 1 || typeof data.targets !== 'object' || data.targets === null) throw new Error('not a version 1 health state file');
      for (const [id, s] of Object.entries(data.targets)) {
        if (typeof s?.key !== 'string' || (s.status !== 'up' && s.status !== 'down')) throw new Error(`targets[${JSON.stringify(id)}]: needs key and status up|down`);
        this.saved.set(id, { key: s.key, status: s.status });
      }
    } catch (err) {
      this.saved.clear();
      this.log.error({ err, file: this.file }, 'saved health states are damaged; checks start from their initial state');
    }
  }
}
