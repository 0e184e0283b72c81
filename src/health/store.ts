// SPDX-License-Identifier: Apache-2.0
// Health states saved in the state dir (health.json), so a restarted xlvsd starts every check
// where it was: a real that was down stays down until it proves itself, and one that was up is
// not taken out for `initial: down` while its first probes run. A saved state only applies to
// the same check of the same real (its key); anything else starts from the check's `initial`.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { HealthStatus } from './state.js';
import { DurableFile } from '../state/durable-file.js';
import { StateFileError } from '../errors.js';

/** Writes are coalesced: a burst of transitions is one file write. */
export const STORE_WRITE_DELAY_MS = 200;

interface Saved {
  key: string;
  status: HealthStatus;
}

export class HealthStore {
  /** health.json, written durably with its previous version kept (state/durable-file.ts). */
  private readonly file: DurableFile<Map<string, Saved>>;
  private readonly saved = new Map<string, Saved>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(stateDir: string, private readonly log: Pick<Logger, 'error' | 'warn'>) {
    mkdirSync(stateDir, { recursive: true });
    this.file = new DurableFile(join(stateDir, 'health.json'), parseSaved, log);
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
    try {
      this.file.write(JSON.stringify({ version: 1, targets: Object.fromEntries(this.saved) }));
    } catch (err) {
      // Health keeps working without the file; a restart then starts checks from `initial`.
      this.log.error({ err, file: this.file.file }, 'saving health states failed');
    }
  }

  /**
   * A damaged file falls back to health.json.prev (a warning). Both damaged, it is reported and
   * ignored, unlike overrides.json: these are a cache of what probes will find again, and every
   * check then proves itself from its `initial` state.
   */
  private load(): void {
    try {
      for (const [id, s] of this.file.read() ?? []) this.saved.set(id, s);
    } catch (err) {
      this.log.error({ err, file: this.file.file }, 'saved health states are damaged; checks start from their initial state');
    }
  }
}

function parseSaved(text: string, file: string): Map<string, Saved> {
  const saved = new Map<string, Saved>();
  let data: { version?: unknown; targets?: Record<string, Partial<Saved>> };
  try {
    data = JSON.parse(text) as typeof data;
  } catch (e) {
    throw new StateFileError(file, `: not valid JSON: ${(e as Error).message}`);
  }
  if (data?.version !== 1 || typeof data.targets !== 'object' || data.targets === null) throw new StateFileError(file, ': not a version 1 health state file');
  for (const [id, s] of Object.entries(data.targets)) {
    if (typeof s?.key !== 'string' || (s.status !== 'up' && s.status !== 'down')) throw new StateFileError(file, `.targets[${JSON.stringify(id)}]: needs key and status up|down (got ${JSON.stringify(s)})`);
    saved.set(id, { key: s.key, status: s.status });
  }
  return saved;
}
