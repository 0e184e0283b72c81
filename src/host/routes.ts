// SPDX-License-Identifier: Apache-2.0
// Routes (ip route): the kernel's lookup for an address, and routes in a numbered table put,
// listed and flushed. What the requests carry: rtnl-messages.ts.

import type { Netlink } from './netlink.js';
import * as msg from './rtnl-messages.js';
import { linkName, resolveDev, type Dev } from './links.js';
import type { IpFamily } from './rtnl-codec.js';
import type { Message } from './netlink-codec.js';
import { NetlinkError } from '../errors.js';

export type { RouteRow } from './rtnl-messages.js';

const ENOENT = 2;
const ESRCH = 3;

export interface RouteLookup {
  /** Where the packet goes next: the gateway, or the address itself when it is on a link. */
  nexthop: string;
  gateway?: string;
  ifindex: number;
  dev: string;
}

/** `ip route get ADDR [oif DEV]`; NetlinkError (ENETUNREACH, ...) when there is no route. */
export function routeGet(nl: Netlink, address: string, oif?: string | Dev): RouteLookup {
  const req = msg.getRoute(address, oif === undefined ? undefined : resolveDev(nl, oif));
  const [m] = nl.get(req);
  const r = m === undefined ? undefined : msg.decodeRoute(m);
  if (r?.oif === undefined) throw new NetlinkError(`${req.what} (RTM_GETROUTE)`, ESRCH, 'the answer names no output device');
  return { nexthop: r.gateway ?? r.dst ?? address, ...(r.gateway !== undefined ? { gateway: r.gateway } : {}), ifindex: r.oif, dev: linkName(nl, r.oif) };
}

export interface TableRouteSpec extends Omit<msg.TableRoute, 'dev'> {
  dev: string | Dev;
}

/** `ip route replace DST via GW dev DEV [onlink] table T`. */
export function replaceRoute(nl: Netlink, r: TableRouteSpec): void {
  nl.change(msg.putRoute({ ...r, dev: resolveDev(nl, r.dev) }, 'replace'));
}

/** `ip route add ...`: NetlinkError EEXIST when the table has that destination already. */
export function addRoute(nl: Netlink, r: TableRouteSpec): void {
  nl.change(msg.putRoute({ ...r, dev: resolveDev(nl, r.dev) }, 'add'));
}

/** The routes of a table (a table nobody used is simply empty). */
export function listRoutes(nl: Netlink, family: IpFamily, table: number): msg.RouteRow[] {
  return dumpTable(nl, family, table).map(([, r]) => r);
}

/** `ip -F route flush table T`: deletes every route of the table; returns how many went. */
export function flushTable(nl: Netlink, family: IpFamily, table: number): number {
  let n = 0;
  for (const [m, r] of dumpTable(nl, family, table)) {
    try {
      nl.change(msg.deleteRouteAsDumped(m, r));
      n++;
    } catch (e) {
      // Gone since the dump (a route through a device that went away): what we wanted.
      if (!(e instanceof NetlinkError && e.errno === ESRCH)) throw e;
    }
  }
  return n;
}

/** A table's routes with the messages they came in. The kernel refuses to dump a table that
 * was never created (ENOENT, "FIB table does not exist"): that table has no routes. */
function dumpTable(nl: Netlink, family: IpFamily, table: number): Array<[Message, msg.RouteRow]> {
  let messages: Message[];
  try {
    messages = nl.dump(msg.dumpRoutes(family, table));
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ENOENT) return [];
    throw e;
  }
  return messages.map((m) => [m, msg.decodeRoute(m)] as [Message, msg.RouteRow]).filter(([, r]) => r.table === table);
}
