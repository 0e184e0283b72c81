// SPDX-License-Identifier: Apache-2.0
// iproute2's JSON output (`ip -j neigh show`, `ip -j route get`) read into the shapes the
// daemon's netlink readers give (src/dataplane/neighbour-plan.ts), so a test can hold what
// netlink did against what `ip` says. Test-only: the daemon never runs `ip`.

import { canonicalAddress } from '../src/model/ip.js';
import { canonicalOrThrow, NeighbourError, type NeighbourEntry } from '../src/dataplane/neighbour-plan.js';

function parseJsonArray(text: string, what: string): unknown[] {
  let v: unknown;
  try {
    v = JSON.parse(text.trim() === '' ? '[]' : text);
  } catch (err) {
    throw new NeighbourError(`${what}: not JSON: ${JSON.stringify(text.slice(0, 200))}`, { cause: err });
  }
  if (!Array.isArray(v)) throw new NeighbourError(`${what}: expected a JSON array, got ${JSON.stringify(text.slice(0, 200))}`);
  return v;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses `ip -j neigh show dev X`. Flags like "managed" appear as keys with a null value. */
export function parseNeighbours(text: string): NeighbourEntry[] {
  return parseJsonArray(text, 'ip -j neigh show').map((row, i) => {
    const address = isRecord(row) ? canonicalAddress(row.dst) : null;
    if (!isRecord(row) || address === null) {
      throw new NeighbourError(`ip -j neigh show: row ${i} has no valid "dst": ${JSON.stringify(row)}`);
    }
    const states = Array.isArray(row.state) ? row.state.filter((s): s is string => typeof s === 'string') : [];
    return {
      address,
      ...(typeof row.lladdr === 'string' ? { lladdr: row.lladdr } : {}),
      managed: 'managed' in row,
      states,
    };
  });
}

/** Parses `ip -j route get ADDR oif DEV`: the next hop is the gateway, else ADDR itself. */
export function parseRouteGet(text: string, address: string): { nexthop: string; dev: string } {
  const rows = parseJsonArray(text, `ip -j route get ${address}`);
  const row = rows[0];
  if (!isRecord(row) || typeof row.dev !== 'string') {
    throw new NeighbourError(`ip -j route get ${address}: no route with a device: ${JSON.stringify(text.slice(0, 200))}`);
  }
  const gw = typeof row.gateway === 'string' ? row.gateway : undefined;
  return { nexthop: canonicalOrThrow(gw ?? address, `ip -j route get ${address}`), dev: row.dev };
}
