// SPDX-License-Identifier: Apache-2.0
// Starting high availability inside xlvsd (only with an `ha:` section): the floating addresses
// on the interfaces, the sysctls that keep the kernel from answering or using them on its own,
// the announcers, the connection sync, and the HaManager that drives them all.

import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { Dataplane } from '../dataplane/handles.js';
import type { Reconciler } from '../dataplane/reconcile.js';
import type { DesiredStore } from '../state/desired-store.js';
import type { DesiredState } from '../model/types.js';
import { Netlink } from '../host/netlink.js';
import { linkCarrier } from '../host/links.js';
import { HaManager } from '../ha/manager.js';
import { HaStateFile } from '../ha/ha-state.js';
import { Announcer } from '../ha/announce.js';
import { ensureFloating, prepareHaSysctls, removeFloating } from '../ha/floating.js';
import { SyncChannel } from '../ha/sync-channel.js';

/** The floating addresses of a desired state: every VIP (public), the gateways and local addresses (private). */
export function floatingOf(desired: DesiredState, gateway: string[]): { public: string[]; private: string[] } {
  const vips = new Set<string>();
  for (const s of desired.services) for (const f of s.frontends) vips.add(f.vip);
  const priv = new Set(gateway);
  for (const a of [desired.local.v4, desired.local.v6]) if (a !== undefined) priv.add(a);
  return { public: [...vips].sort(), private: [...priv].sort() };
}

export interface HaStartOptions {
  config: Config;
  dp: Dataplane;
  reconciler: Reconciler;
  store: DesiredStore;
  stateDir: string;
  log: Logger;
}

export async function startHa(o: HaStartOptions): Promise<HaManager | undefined> {
  const ha = o.config.ha;
  if (!ha) return undefined;
  const log = o.log.child({ part: 'ha' });
  const ifaces = o.config.interfaces;
  const nl = Netlink.open();
  const stateFile = new HaStateFile(o.stateDir, log);
  const floating = (): { public: string[]; private: string[] } => floatingOf(o.store.committed.state, ha.gateway);
  prepareHaSysctls([ifaces.public, ifaces.private]);
  // The set on the interfaces follows the VIPs in force: what a reload (or the config since the
  // last run) no longer floats comes off, so the kernel does not answer for it without the gate.
  const put = (): void => {
    const f = floating();
    const was = stateFile.saved.floating;
    const gone = (dev: string, now: string[]): string[] => (was[dev] ?? []).filter((a) => !now.includes(a));
    const stale = { public: gone(ifaces.public, f.public), private: gone(ifaces.private, f.private) };
    if (stale.public.length + stale.private.length > 0) {
      removeFloating(nl, { public: ifaces.public, private: ifaces.private, vips: stale.public, privateAddrs: stale.private });
      log.info({ removed: stale }, 'ha: addresses no longer floating taken off the interfaces');
    }
    ensureFloating(nl, { public: ifaces.public, private: ifaces.private, vips: f.public, privateAddrs: f.private });
    const next = { [ifaces.public]: f.public, [ifaces.private]: f.private };
    if (JSON.stringify(next) !== JSON.stringify(was)) stateFile.save({ floating: next });
  };
  put();
  const sync = new SyncChannel({ ha, dp: o.dp, slots: () => o.reconciler.slotIndex(), log, epoch: Date.now() });
  const manager = await HaManager.start({
    config: ha, maps: o.dp.maps, stateFile, log, floating,
    announcers: { public: new Announcer(nl, { dev: ifaces.public, log }), private: new Announcer(nl, { dev: ifaces.private, log }) },
    faultCheck: () => {
      for (const dev of [ifaces.public, ifaces.private]) {
        if (!linkCarrier(nl, dev)) return `interface ${dev} is down or has no carrier`;
      }
      return o.dp.notAttached();
    },
    sync,
  });
  // A reload that changes the VIPs moves the floating set with it.
  o.store.onChange(() => {
    try {
      put();
      manager.refreshFloating();
    } catch (e) {
      // The data plane runs the new state; the floating set stays as it was until the next change.
      log.error({ err: e, code: (e as { code?: string }).code }, `ha: moving the floating addresses with the new state failed: ${(e as Error).message}`);
    }
  });
  return manager;
}
