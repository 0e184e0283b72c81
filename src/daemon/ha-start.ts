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
import { ensureFloating, prepareHaSysctls } from '../ha/floating.js';
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
  const put = (): void => {
    const f = floating();
    ensureFloating(nl, { public: ifaces.public, private: ifaces.private, vips: f.public, privateAddrs: f.private });
    stateFile.save({ floating: { [ifaces.public]: f.public, [ifaces.private]: f.private } });
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
      return undefined;
    },
    sync,
  });
  // A reload that changes the VIPs moves the floating set with it.
  o.store.onChange(() => {
    put();
    manager.refreshFloating();
  });
  return manager;
}
