// SPDX-License-Identifier: Apache-2.0
// Neighbour entries (ip neigh): managed entries the kernel resolves and keeps resolved by itself,
// listing a device's entries, deleting one. What the requests carry: rtnl-messages.ts.

import { NetlinkError } from '../errors.js';
import type { Netlink } from './netlink.js';
import * as msg from './rtnl-messages.js';
import { resolveDev, type Dev } from './links.js';
import type { IpFamily } from './rtnl-codec.js';

export type { NeighbourRow } from './rtnl-messages.js';

const ENOENT = 2;

/**
 * `ip neigh replace ADDR dev DEV managed [use]`: the entry becomes managed (created if missing,
 * an existing one replaced); `use` also asks the kernel to probe it now.
 */
export function replaceManagedNeighbour(nl: Netlink, address: string, dev: string | Dev, opts: { use?: boolean } = {}): void {
  nl.change(msg.replaceManagedNeighbour(address, resolveDev(nl, dev), opts.use === true));
}

/** `ip neigh replace ADDR dev DEV nud none use`: the kernel resolves ADDR now (rtnl-messages.ts useNeighbour). */
export function useNeighbour(nl: Netlink, address: string, dev: string | Dev): void {
  nl.change(msg.useNeighbour(address, resolveDev(nl, dev)));
}

/** `ip neigh get ADDR dev DEV`: the entry, or undefined when there is none. */
export function getNeighbour(nl: Netlink, address: string, dev: string | Dev): msg.NeighbourRow | undefined {
  try {
    const [m] = nl.get(msg.getNeighbour(address, resolveDev(nl, dev)));
    return m === undefined ? undefined : msg.decodeNeighbour(m);
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ENOENT) return undefined;
    throw e;
  }
}

/** `ip neigh del ADDR dev DEV`; NetlinkError ENOENT when there is no such entry. */
export function deleteNeighbour(nl: Netlink, address: string, dev: string | Dev): void {
  nl.change(msg.deleteNeighbour(address, resolveDev(nl, dev)));
}

/** The device's neighbour entries of one family, or of both (IPv4 first). */
export function listNeighbours(nl: Netlink, dev: string | Dev, family?: IpFamily): msg.NeighbourRow[] {
  const d = resolveDev(nl, dev);
  const families: IpFamily[] = family === undefined ? [4, 6] : [family];
  return families.flatMap((f) =>
    nl.dump(msg.dumpNeighbours(f, d)).flatMap((m) => {
      const row = msg.decodeNeighbour(m);
      return row !== undefined && row.ifindex === d.index && row.family === f ? [row] : [];
    }),
  );
}
