// SPDX-License-Identifier: Apache-2.0
// The pure half of neighbour upkeep: deciding which entries to add or drop. No I/O here, so
// all of it is unit-tested. The daemon reads the kernel over netlink (src/host/); the tests
// read `ip -j` output with testing/ip-json.ts to hold the netlink results against it.
//
// Why managed entries: for dr/tun/fullnat the data plane drops a packet whose next hop has
// no resolved MAC (XLVS_DROP_NO_NEIGH), since the kernel cannot be handed such a packet.
// A neighbour entry flagged "managed" (NTF_MANAGED, Linux 5.16+) is resolved by the kernel
// as soon as it is added and re-probed for as long as it exists, without any application
// traffic; checked on this kernel: a managed entry for a live veth peer is REACHABLE within
// 0.5 s (IPv4 and IPv6), a "nud probe" without a lladdr is refused.

import { XlvsError } from '../errors.js';
import { canonicalAddress } from '../model/ip.js';
import type { Family } from '../model/types.js';

export interface NeighbourTarget {
  address: string;
  family: Family;
}

/** One neighbour entry of a device (a netlink dump row, or a row of `ip -j neigh show dev X`). */
export interface NeighbourEntry {
  address: string;
  lladdr?: string;
  managed: boolean;
  /** NUD states, upper case: REACHABLE, STALE, DELAY, PROBE, INCOMPLETE, FAILED, PERMANENT, NOARP, NONE. */
  states: string[];
}

/** What the kernel reports about the neighbours or a route was not what we can read. */
export class NeighbourError extends XlvsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_NEIGHBOUR', message, options);
  }
}

/** Holds a MAC the FIB lookup will use (bpf_fib_lookup accepts NUD_VALID states). */
const VALID = new Set(['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP']);

export function isResolved(e: NeighbourEntry): boolean {
  return e.lladdr !== undefined && e.states.some((s) => VALID.has(s));
}

/** The model's spelling (model/ip.ts), so the kernel's text and ours compare equal. */
export function canonicalOrThrow(address: string, what: string): string {
  const c = canonicalAddress(address);
  if (c === null) throw new NeighbourError(`${what}: not an IP address: ${JSON.stringify(address)}`);
  return c;
}

export interface NeighbourPlan {
  /** Next hops to (re)add as managed entries: missing, or present unresolved and not managed. */
  add: string[];
  /** Managed entries that still fail to resolve: kicked again (NTF_USE). */
  kick: string[];
  /** Managed entries we added earlier for next hops nobody needs any more. */
  drop: string[];
}

/**
 * What to change so that every wanted next hop has a resolved entry on the device: a managed
 * one where there is none or it does not resolve. An entry that is not managed but resolved
 * (an operator's static PERMANENT/NOARP entry, or one the kernel learnt) already gives the FIB
 * lookup its MAC: it is left alone, as replacing it would turn an operator's entry into ours
 * and delete it later. `ours` are the entries this process made managed before; only those are
 * ever dropped, so an operator's own managed entries are left alone too.
 */
export function planNeighbours(wanted: Iterable<string>, current: NeighbourEntry[], ours: ReadonlySet<string>): NeighbourPlan {
  const want = new Set([...wanted].map((a) => canonicalOrThrow(a, 'next hop')));
  const byAddr = new Map(current.map((e) => [e.address, e]));
  const plan: NeighbourPlan = { add: [], kick: [], drop: [] };
  for (const a of [...want].sort()) {
    const e = byAddr.get(a);
    if (e === undefined) plan.add.push(a);
    else if (!e.managed) {
      if (!isResolved(e)) plan.add.push(a);
    } else if (!isResolved(e)) plan.kick.push(a);
  }
  for (const a of [...ours].sort()) {
    if (!want.has(a) && byAddr.get(a)?.managed === true) plan.drop.push(a);
  }
  return plan;
}
