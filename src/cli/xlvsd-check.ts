// SPDX-License-Identifier: Apache-2.0
// What `xlvsd --check` holds a config to beyond the file itself: what the daemon's start would
// refuse on this host, found without loading, attaching or writing anything. The systemd unit
// runs it as ExecStartPre, so a config that passes here does not fail the start for these:
//  - the pinned connection table, if there is one, has the configured flow_entries (the daemon
//    cannot resize it: FlowTableSizeError, as Dataplane.load), and every other pinned map is one
//    this version's object can adopt (PinnedMapsIncompatibleError, as Dataplane.load);
//  - both interfaces exist in this network namespace;
//  - with ha:, this router's own addresses (ha.local) are on the interface of their network (the
//    heartbeats are bound to them) and none of them is a floating address;
//  - the data plane holds the state: the planner (pure) plans it onto empty maps, which throws
//    CapacityError before it plans anything (services, reals, frontends plus VIP addresses,
//    tables), and the table builders' errors.
// Not checked here: the API's saved overrides (state dir) and what the kernel lets SYN checks do.

import { join } from 'node:path';
import { BpfError, FlowTableSizeError, InterfaceNotFoundError, InvalidArgumentError } from '../errors.js';
import { Netlink } from '../host/netlink.js';
import { listAddresses } from '../host/addresses.js';
import type { Config } from '../config/index.js';
import { checkPinnedMaps } from '../dataplane/handles.js';
import { planApply } from '../dataplane/planner.js';
import { SlotIndex } from '../dataplane/slots.js';
import { overlayService } from '../health/overlay.js';
import { pinExists } from '../kernel/bpffs.js';
import { ifindexOf } from '../kernel/link.js';
import { pinnedMapInfo } from '../kernel/map-info.js';
import type { AppliedState } from '../model/types.js';

/** Throws the error the daemon's start would for `config` on this host (pin dir `pinDir`). */
export async function checkConfigOnHost(config: Config, pinDir: string, objectPath: string): Promise<void> {
  checkPinnedFlows(pinDir, config.flowEntries);
  checkPinnedMaps(objectPath, pinDir, config.flowEntries);
  checkInterfaces(config);
  checkHaAddresses(config);
  await checkCapacity(config);
}

function checkPinnedFlows(pinDir: string, flowEntries: number): void {
  const pin = join(pinDir, 'maps', 'flows');
  if (!pinExists(pin)) return;
  const pinned = pinnedMapInfo(pin).maxEntries;
  if (pinned !== flowEntries) throw new FlowTableSizeError(pinned, flowEntries);
}

function checkInterfaces(config: Config): void {
  for (const role of ['public', 'private'] as const) {
    try {
      ifindexOf(config.interfaces[role]);
    } catch (e) {
      if (e instanceof BpfError && e.errno === 19) throw new InterfaceNotFoundError(`interfaces.${role}`, config.interfaces[role]);
      throw e;
    }
  }
}

function checkHaAddresses(config: Config): void {
  const ha = config.ha;
  if (!ha) return;
  const floating = new Set<string>(ha.gateway);
  for (const s of config.desired.services) for (const f of s.frontends) floating.add(f.vip);
  for (const a of [config.desired.local.v4, config.desired.local.v6]) if (a !== undefined) floating.add(a);
  const nl = Netlink.open();
  try {
    for (const role of ['public', 'private'] as const) {
      const address = ha.local[role];
      if (floating.has(address)) throw new InvalidArgumentError(`ha.local.${role}`, address, 'is a floating address (a VIP, a gateway or a local address): it must be this router\'s own');
      const dev = config.interfaces[role];
      if (!listAddresses(nl, dev).some((row) => row.address === address)) {
        throw new InvalidArgumentError(`ha.local.${role}`, address, `is not an address of interface ${dev} (interfaces.${role}): the heartbeats are sent from it`);
      }
    }
  } finally {
    nl.close();
  }
}

/** Every real healthy (a sorry server is in the applied state at weight 0): what start plans. */
async function checkCapacity(config: Config): Promise<void> {
  const now = Date.now();
  const state: AppliedState = {
    ...config.desired,
    services: config.desired.services.map((s) => overlayService(s, () => undefined, now).spec),
  };
  await planApply({ state, index: new SlotIndex(), ncpus: 1, busy: async () => new Set<number>() });
}
