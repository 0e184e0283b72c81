// SPDX-License-Identifier: Apache-2.0
// Keeps the kernel's neighbour entries for the reals' next hops on the private interface
// resolved, so that dr/tun/fullnat packets find a MAC in bpf_fib_lookup (the data plane drops
// them otherwise: XLVS_DROP_NO_NEIGH). Each next hop gets a "managed" neighbour entry, which
// the kernel resolves at once and keeps re-probing by itself (see neighbour-plan.ts); this
// class only makes sure the entries exist: at apply (refresh) and periodically (start).

import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import { XlvsError } from '../errors.js';
import { NeighbourError, parseNeighbours, parseRouteGet, planNeighbours, type NeighbourTarget } from './neighbour-plan.js';

export type { NeighbourTarget } from './neighbour-plan.js';

/** Runs argv (no shell) and resolves with its stdout; the lab passes one that enters a netns. */
export type Exec = (argv: string[]) => Promise<string>;

export interface NeighboursOptions {
  /** The private interface, where the reals (or their gateways) are. */
  dev: string;
  log: Logger;
  /** Default: run `ip` directly, 5 s limit per command. */
  exec?: Exec;
}

/** Default period of start(): well inside the kernel's own reachable time (~30 s). */
export const DEFAULT_NEIGHBOUR_INTERVAL_MS = 10_000;
const COMMAND_TIMEOUT_MS = 5_000;

export const execIp: Exec = (argv) =>
  new Promise((resolve, reject) => {
    const [file, ...args] = argv;
    execFile(file!, args, { timeout: COMMAND_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new NeighbourError(`${argv.join(' ')} failed: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });

const codeOf = (err: unknown): string | undefined => (err instanceof XlvsError ? err.code : undefined);

/** What a refresh changed: only the commands that succeeded. */
export interface RefreshResult {
  added: string[];
  kicked: string[];
  dropped: string[];
}

export class Neighbours {
  private readonly exec: Exec;
  private targets: NeighbourTarget[] = [];
  /** Entries this instance made managed: the only ones it ever deletes. */
  private readonly ours = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RefreshResult> | undefined;

  constructor(private readonly opts: NeighboursOptions) {
    this.exec = opts.exec ?? execIp;
  }

  /**
   * Makes sure every real's next hop has a managed entry on the device and drops the managed
   * entries this instance made for next hops no longer needed. Remembers `reals` for the
   * periodic runs. Concurrent calls are serialised.
   */
  async refresh(reals: NeighbourTarget[] = this.targets): Promise<RefreshResult> {
    this.targets = [...reals];
    while (this.running) await this.running.catch(() => undefined);
    const run = this.refreshOnce(this.targets);
    this.running = run;
    try {
      return await run;
    } finally {
      this.running = undefined;
    }
  }

  private async refreshOnce(reals: NeighbourTarget[]): Promise<RefreshResult> {
    const { dev, log } = this.opts;
    const nexthops = new Set<string>();
    // One real whose route cannot be read must not cost the others their neighbours.
    let allRouted = true;
    for (const r of reals) {
      let route: { nexthop: string; dev: string };
      try {
        route = parseRouteGet(await this.exec(['ip', '-j', `-${r.family}`, 'route', 'get', r.address, 'oif', dev]), r.address);
      } catch (err) {
        allRouted = false;
        log.error({ err, code: codeOf(err), real: r.address, dev }, 'no route to a real found; its next hop is not resolved this time');
        continue;
      }
      if (route.dev !== dev) {
        log.warn({ real: r.address, dev: route.dev, want: dev }, 'real is not reached through the private interface; not resolving it');
        continue;
      }
      nexthops.add(route.nexthop);
    }
    const current = [
      ...parseNeighbours(await this.exec(['ip', '-j', '-4', 'neigh', 'show', 'dev', dev])),
      ...parseNeighbours(await this.exec(['ip', '-j', '-6', 'neigh', 'show', 'dev', dev])),
    ];
    const plan = planNeighbours(nexthops, current, this.ours);
    // A next hop of a real whose route failed is not in `nexthops`: dropping now could delete
    // an entry that real still needs, so drops wait for a run that saw every route.
    const drop = allRouted ? plan.drop : [];
    const added = await this.eachAddress(plan.add, (a) => ['ip', 'neigh', 'replace', a, 'dev', dev, 'managed']);
    for (const a of added) this.ours.add(a);
    // A managed entry stuck in FAILED is re-probed by the kernel anyway; NTF_USE asks now.
    const kicked = await this.eachAddress(plan.kick, (a) => ['ip', 'neigh', 'replace', a, 'dev', dev, 'managed', 'use']);
    const dropped = await this.eachAddress(drop, (a) => ['ip', 'neigh', 'del', a, 'dev', dev]);
    for (const a of dropped) this.ours.delete(a);
    const result: RefreshResult = { added, kicked, dropped };
    if (result.added.length + result.kicked.length + result.dropped.length > 0) log.info({ dev, ...result }, 'neighbour entries updated');
    return result;
  }

  /**
   * Runs one command per address, each on its own: one address the kernel refuses is logged
   * and does not stop the others. Returns the addresses whose command succeeded.
   */
  private async eachAddress(addresses: string[], argv: (address: string) => string[]): Promise<string[]> {
    const done: string[] = [];
    for (const a of addresses) {
      try {
        await this.exec(argv(a));
        done.push(a);
      } catch (err) {
        this.opts.log.error({ err, code: codeOf(err), nexthop: a, dev: this.opts.dev }, 'neighbour entry update failed');
      }
    }
    return done;
  }

  /** Refreshes every intervalMs (the first run at once) until stop(). Errors are logged. */
  start(intervalMs = DEFAULT_NEIGHBOUR_INTERVAL_MS): void {
    if (this.timer) return;
    const tick = (): void => {
      this.refresh().catch((err: unknown) => this.opts.log.error({ err, dev: this.opts.dev }, 'neighbour refresh failed'));
    };
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
    tick();
  }

  /** Stops the periodic runs and waits for one in progress. Entries stay (the kernel keeps them). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** Next hops this instance has made managed entries for. */
  managed(): string[] {
    return [...this.ours].sort();
  }
}
