// SPDX-License-Identifier: Apache-2.0
// Keeps the kernel's neighbour entries for the reals' next hops on the private interface
// resolved, so that dr/tun/fullnat packets find a MAC in bpf_fib_lookup (the data plane drops
// them otherwise: XLVS_DROP_NO_NEIGH). Each next hop gets a "managed" neighbour entry, which
// the kernel resolves at once and keeps re-probing by itself (see neighbour-plan.ts); this
// class only makes sure the entries exist: at apply (refresh) and periodically (start).
// It talks to the kernel over netlink (src/host/), never through `ip`.

import type { Logger } from 'pino';
import { Netlink } from '../host/netlink.js';
import { linkByName } from '../host/links.js';
import { deleteNeighbour, listNeighbours, replaceManagedNeighbour } from '../host/neighbours.js';
import { routeGet } from '../host/routes.js';
import { NeighbourError, planNeighbours, type NeighbourEntry, type NeighbourTarget } from './neighbour-plan.js';

export type { NeighbourTarget } from './neighbour-plan.js';

/** What neighbour upkeep needs of the host; netlinkNeighbours() is the real one. */
export interface NeighbourHost {
  /** The next hop (gateway, or the address itself) and the device of the route to `address` out of `dev`. */
  routeGet(address: string, dev: string): { nexthop: string; dev: string };
  /** The device's neighbour entries, both families. */
  list(dev: string): NeighbourEntry[];
  /** `ip neigh replace ADDRESS dev DEV managed [use]`. */
  replaceManaged(address: string, dev: string, use: boolean): void;
  /** `ip neigh del ADDRESS dev DEV`. */
  remove(address: string, dev: string): void;
  close?(): void;
}

/**
 * The host over a netlink socket, in the socket's network namespace (the lab opens one inside
 * the router's with inNetns()). The device is looked up on each call: it may be re-created.
 */
export function netlinkNeighbours(nl: Netlink): NeighbourHost {
  return {
    routeGet: (address, dev) => {
      const r = routeGet(nl, address, linkByName(nl, dev));
      return { nexthop: r.nexthop, dev: r.dev };
    },
    list: (dev) => listNeighbours(nl, dev),
    replaceManaged: (address, dev, use) => replaceManagedNeighbour(nl, address, dev, { use }),
    remove: (address, dev) => deleteNeighbour(nl, address, dev),
    close: () => nl.close(),
  };
}

export interface NeighboursOptions {
  /** The private interface, where the reals (or their gateways) are. */
  dev: string;
  log: Logger;
  /** Default: netlink in the calling thread's namespace, opened at the first refresh. */
  host?: NeighbourHost;
}

/** Default period of start(): well inside the kernel's own reachable time (~30 s). */
export const DEFAULT_NEIGHBOUR_INTERVAL_MS = 10_000;

/** Host failures keep the E_NEIGHBOUR code neighbour upkeep always logged; the cause says more. */
function asNeighbourError(err: unknown, what: string): NeighbourError {
  if (err instanceof NeighbourError) return err;
  return new NeighbourError(`${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/** What a refresh changed: only the changes that succeeded. */
export interface RefreshResult {
  added: string[];
  kicked: string[];
  dropped: string[];
}

export class Neighbours {
  /** Ours when not given: opened at the first refresh, closed by stop(). */
  private host: NeighbourHost | undefined;
  private readonly ownsHost: boolean;
  private targets: NeighbourTarget[] = [];
  /** Entries this instance made managed: the only ones it ever deletes. */
  private readonly ours = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RefreshResult> | undefined;

  constructor(private readonly opts: NeighboursOptions) {
    this.host = opts.host;
    this.ownsHost = opts.host === undefined;
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
    this.host ??= netlinkNeighbours(Netlink.open());
    const host = this.host;
    const nexthops = new Set<string>();
    // One real whose route cannot be read must not cost the others their neighbours.
    let allRouted = true;
    for (const r of reals) {
      let route: { nexthop: string; dev: string };
      try {
        route = host.routeGet(r.address, dev);
      } catch (err) {
        allRouted = false;
        const e = asNeighbourError(err, `route to ${r.address} out of ${dev}`);
        log.error({ err: e, code: e.code, real: r.address, dev }, 'no route to a real found; its next hop is not resolved this time');
        continue;
      }
      if (route.dev !== dev) {
        log.warn({ real: r.address, dev: route.dev, want: dev }, 'real is not reached through the private interface; not resolving it');
        continue;
      }
      nexthops.add(route.nexthop);
    }
    let current: NeighbourEntry[];
    try {
      current = host.list(dev);
    } catch (err) {
      throw asNeighbourError(err, `listing the neighbours of ${dev}`);
    }
    const plan = planNeighbours(nexthops, current, this.ours);
    // A next hop of a real whose route failed is not in `nexthops`: dropping now could delete
    // an entry that real still needs, so drops wait for a run that saw every route.
    const drop = allRouted ? plan.drop : [];
    const added = this.eachAddress(plan.add, (a) => host.replaceManaged(a, dev, false));
    for (const a of added) this.ours.add(a);
    // A managed entry stuck in FAILED is re-probed by the kernel anyway; NTF_USE asks now.
    const kicked = this.eachAddress(plan.kick, (a) => host.replaceManaged(a, dev, true));
    const dropped = this.eachAddress(drop, (a) => host.remove(a, dev));
    for (const a of dropped) this.ours.delete(a);
    const result: RefreshResult = { added, kicked, dropped };
    if (result.added.length + result.kicked.length + result.dropped.length > 0) log.info({ dev, ...result }, 'neighbour entries updated');
    return result;
  }

  /**
   * Runs one change per address, each on its own: one address the kernel refuses is logged
   * and does not stop the others. Returns the addresses whose change succeeded.
   */
  private eachAddress(addresses: string[], change: (address: string) => void): string[] {
    const done: string[] = [];
    for (const a of addresses) {
      try {
        change(a);
        done.push(a);
      } catch (err) {
        const e = asNeighbourError(err, `neighbour ${a} on ${this.opts.dev}`);
        this.opts.log.error({ err: e, code: e.code, nexthop: a, dev: this.opts.dev }, 'neighbour entry update failed');
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

  /**
   * Stops the periodic runs and waits for one in progress. Entries stay (the kernel keeps them).
   * Closes our own netlink socket (a later refresh opens another); a given host stays open.
   */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
    if (this.ownsHost) {
      this.host?.close?.();
      this.host = undefined;
    }
  }

  /** Next hops this instance has made managed entries for. */
  managed(): string[] {
    return [...this.ours].sort();
  }
}
