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
import { dropLease, readFloating, readHa, setFloating, setHaFlags } from '../ha/lease.js';
import { removeRecordedFloating } from '../ha/teardown.js';

/** The floating addresses of a desired state: every VIP (public), the gateways and local addresses (private). */
export function floatingOf(desired: DesiredState, gateway: string[]): { public: string[]; private: string[] } {
  const vips = new Set<string>();
  for (const s of desired.services) for (const f of s.frontends) vips.add(f.vip);
  const priv = new Set(gateway);
  for (const a of [desired.local.v4, desired.local.v6]) if (a !== undefined) priv.add(a);
  return { public: [...vips].sort(), private: [...priv].sort() };
}

/**
 * A start without `ha:` on a data plane that ran with it: the gate and the sync are switched off
 * (else the pinned flags would keep dropping ARP/ND for the old floating addresses) and the
 * addresses HA put on the interfaces come off: this router now answers for what its config says.
 */
function leaveHa(o: HaStartOptions, log: Logger): void {
  const flags = readHa(o.dp.maps).flags;
  if (flags === 0 && readFloating(o.dp.maps).length === 0) return;
  setHaFlags(o.dp.maps, 0);
  dropLease(o.dp.maps);
  setFloating(o.dp.maps, []);
  removeRecordedFloating(o.stateDir, log);
  log.warn({ flags }, 'ha: the config has no ha: section; the pinned data plane ran with it: HA switched off');
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
  const log = o.log.child({ part: 'ha' });
  if (!ha) {
    leaveHa(o, log);
    return undefined;
  }
  const ifaces = o.config.interfaces;
  const nl = Netlink.open();
  const stateFile = new HaStateFile(o.stateDir, log);
  const floating = (): { public: string[]; private: string[] } => floatingOf(o.store.committed.state, ha.gateway);
  prepareHaSysctls([ifaces.public, ifaces.private]);
  // The set on the interfaces follows the VIPs in force: what a reload (or the config since the
  // last run) no longer floats comes off, so the kernel does not answer for it without the gate.
  // Recorded (ha.json) is what HA put there itself: an address the admin had configured before
  // is used, never recorded, so neither a teardown nor a start without ha: takes it away.
  const put = (): void => {
    const f = floating();
    const was = stateFile.saved.floating;
    const want: Record<string, string[]> = { [ifaces.public]: f.public, [ifaces.private]: f.private };
    const stale = (dev: string): string[] => (was[dev] ?? []).filter((a) => !want[dev]!.includes(a));
    const gone = { public: stale(ifaces.public), private: stale(ifaces.private) };
    if (gone.public.length + gone.private.length > 0) {
      removeFloating(nl, { public: ifaces.public, private: ifaces.private, vips: gone.public, privateAddrs: gone.private });
      log.info({ removed: gone }, 'ha: addresses no longer floating taken off the interfaces');
    }
    const added = ensureFloating(nl, { public: ifaces.public, private: ifaces.private, vips: f.public, privateAddrs: f.private });
    const next: Record<string, string[]> = {};
    for (const dev of [ifaces.public, ifaces.private]) {
      const kept = (was[dev] ?? []).filter((a) => want[dev]!.includes(a));
      next[dev] = [...new Set([...kept, ...added.filter((x) => x.dev === dev).map((x) => x.address)])].sort();
    }
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
