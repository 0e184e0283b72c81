// SPDX-License-Identifier: Apache-2.0
// Watches one router of an HaPair two ways at once, for the tests that must prove a role did NOT
// change: its WatchHa stream (every transition, with the daemon's own timestamp) and its status
// polled every `everyMs` (what the API reported, even if the stream dropped an event).

import type { HaPair } from './ha-pair.js';
import type { RouterName } from '../lab/ha-lab.js';
import type { HaEvent, Role } from '../src/ha/types.js';

export interface RoleSample {
  atMs: number;
  role: Role;
}

export class RoleWatch {
  /** Role changes (the stream's first message, the role it starts from, is `initial`). */
  readonly events: HaEvent[] = [];
  initial: HaEvent | undefined;
  readonly samples: RoleSample[] = [];
  readonly errors: Error[] = [];
  private unsubscribe: () => void;
  private running = true;
  private readonly polling: Promise<void>;

  private constructor(private readonly pair: HaPair, private readonly r: RouterName, private readonly everyMs: number) {
    this.unsubscribe = pair.daemon(r).api.watchHa((e) => {
      if (this.initial === undefined && e.from === e.to) this.initial = e;
      else this.events.push(e);
    }, (e) => this.errors.push(e));
    this.polling = this.poll();
  }

  /** Subscribes and starts polling; resolves once the stream has said where it starts. */
  static async start(pair: HaPair, r: RouterName, everyMs = 20): Promise<RoleWatch> {
    const w = new RoleWatch(pair, r, everyMs);
    const end = Date.now() + 5_000;
    while (w.initial === undefined) {
      if (Date.now() > end || w.errors.length > 0) {
        await w.stop();
        throw new Error(`${r}: the WatchHa stream sent no first event within 5 s: ${w.errors.map((e) => e.message).join('; ')}`);
      }
      await new Promise((res) => setTimeout(res, 5));
    }
    return w;
  }

  private async poll(): Promise<void> {
    while (this.running) {
      try {
        const s = await this.pair.status(this.r);
        this.samples.push({ atMs: Date.now(), role: s.role });
      } catch (e) {
        this.errors.push(e as Error);
      }
      await new Promise((res) => setTimeout(res, this.everyMs));
    }
  }

  /** Roles the polls saw other than `role` (with when). */
  notRole(role: Role): RoleSample[] {
    return this.samples.filter((s) => s.role !== role);
  }

  /** The longest time between two polls, ms (how fine the watch really was). */
  longestPollGapMs(): number {
    let gap = 0;
    for (let i = 1; i < this.samples.length; i++) gap = Math.max(gap, this.samples[i]!.atMs - this.samples[i - 1]!.atMs);
    return gap;
  }

  /** The first event into `to` at or after sinceMs; waits up to timeoutMs for it. */
  async eventTo(to: Role, sinceMs: number, timeoutMs: number): Promise<HaEvent> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.find((x) => x.to === to && x.atMs >= sinceMs);
      if (e !== undefined) return e;
      if (Date.now() > end) throw new Error(`${this.r}: no transition to ${to} since ${sinceMs} within ${timeoutMs} ms; events: ${JSON.stringify(this.events)}`);
      await new Promise((res) => setTimeout(res, 5));
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.unsubscribe();
    await this.polling;
  }
}
