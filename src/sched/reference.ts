// SPDX-License-Identifier: Apache-2.0
// A reference model, in plain TypeScript, of every pick the data plane makes from live state
// (bpf/sched*.h): the least-connection family, lblc/lblcr and the hashed tables. Written from
// IPVS's rules (net/netfilter/ipvs/ip_vs_*.c) in IPVS's own shape (a first pass for the first
// candidate, then comparisons), not from the C, so the fixture tests compare two independent
// readings. Reals are a service's reals in config order; a pick is an index into them, -1 none.

// The bounds (XLVS_RING_TRIES, XLVS_HASH_TRIES, XLVS_LBLCR_SET) are the data plane's numbers, from
// the ABI.
import { XLVS_HASH_TRIES, XLVS_LBLCR_SET, XLVS_RING_TRIES } from '../gen/abi.js';
import { InvalidArgumentError } from '../errors.js';
import { hashAddr } from './hash.js';

/** What a scheduler sees of one real. */
export interface RealState {
  /** Allocated to this service (false: a removed real still named by an lblcr set). */
  member?: boolean;
  weight: number;
  active: number;
  inactive: number;
  /** Over its upper connection threshold (the data plane's hysteresis flag). */
  overloaded?: boolean;
  /** The real's address, for sh/mh's rendezvous fallback (pickRendezvous). */
  addr?: RealAddr;
}

/** A real's address as the data plane holds it. */
export interface RealAddr {
  addr: Buffer; // 16 bytes, ABI form
  family: number; // 4 | 6
  port: number;
}

export type LeastSched = 'lc' | 'wlc' | 'sed' | 'nq' | 'fo' | 'ovf';

/** May take a new flow: allocated, weight > 0, not over its threshold (real_available()). */
export function available(r: RealState): boolean {
  return r.member !== false && r.weight > 0 && !r.overloaded;
}

/** IPVS's connection overhead of lc/wlc/lblc/lblcr: (active << 8) + inactive. */
export function connOverhead(r: RealState): number {
  return r.active * 256 + r.inactive;
}

/** lc: least overhead; first on ties (ip_vs_lc_schedule). */
function lc(reals: RealState[]): number {
  let least = -1;
  reals.forEach((r, i) => {
    if (available(r) && (least < 0 || connOverhead(r) < connOverhead(reals[least]!))) least = i;
  });
  return least;
}

/** wlc/sed shape: the first available real, then any whose overhead/weight is lower (strictly). */
function leastPerWeight(reals: RealState[], overhead: (r: RealState) => number): number {
  const first = reals.findIndex(available);
  if (first < 0) return -1;
  let least = first;
  for (let i = first + 1; i < reals.length; i++) {
    const d = reals[i]!;
    if (!available(d)) continue;
    const l = reals[least]!;
    if (overhead(l) * d.weight > overhead(d) * l.weight) least = i;
  }
  return least;
}

const sedOverhead = (r: RealState): number => r.active + 1;

/** The least-connection family: the pick IPVS's scheduler of that name makes. */
export function pickLeast(sched: LeastSched, reals: RealState[]): number {
  switch (sched) {
    case 'lc':
      return lc(reals);
    case 'wlc':
      return leastPerWeight(reals, connOverhead);
    case 'sed':
      return leastPerWeight(reals, sedOverhead);
    case 'nq': {
      // ip_vs_nq_schedule: the first idle available real wins outright, else sed.
      const idle = reals.findIndex((r) => available(r) && r.active === 0);
      return idle >= 0 ? idle : leastPerWeight(reals, sedOverhead);
    }
    case 'fo':
    case 'ovf': {
      // fo: the heaviest available real (first on ties); ovf: the same among those whose
      // active connections do not exceed their weight.
      let h = -1;
      reals.forEach((r, i) => {
        if (!available(r) || (sched === 'ovf' && r.active > r.weight)) return;
        if (h < 0 || r.weight > reals[h]!.weight) h = i;
      });
      return h;
    }
  }
}

/** lblc/lblcr's is_overloaded(): more active than its weight while some real runs below half its own. */
export function localityOverloaded(r: RealState, reals: RealState[]): boolean {
  return r.active > r.weight && reals.some((d) => d.member !== false && d.active * 2 < d.weight);
}

/** lblc: the destination's cached real (index, or undefined for no entry) -> the pick and the new cache. */
export function pickLblc(cached: number | undefined, reals: RealState[]): { pick: number; cached: number | undefined } {
  if (cached !== undefined) {
    const r = reals[cached];
    if (r !== undefined && available(r) && !localityOverloaded(r, reals)) return { pick: cached, cached };
  }
  const pick = leastPerWeight(reals, connOverhead);
  return { pick, cached: pick < 0 ? cached : pick };
}

/** An lblcr destination's set: members as indices into the reals, in set order. */
export interface LblcrSet {
  members: number[];
  modifiedNs: bigint;
}

/** Erases one member; the last one takes its place (the data plane's set order). */
function erase(members: number[], m: number): void {
  const i = members.indexOf(m);
  if (i < 0) return;
  const last = members.pop()!;
  if (i < members.length) members[i] = last;
}

/** ip_vs_dest_set_min: the first available member, then any with lower overhead/weight. */
function setMin(members: number[], reals: RealState[]): number {
  let least = -1;
  for (const m of members) {
    const d = reals[m]!;
    if (!available(d)) continue;
    if (least < 0) least = m;
    else {
      const l = reals[least]!;
      if (connOverhead(l) * d.weight > connOverhead(d) * l.weight) least = m;
    }
  }
  return least;
}

/** ip_vs_dest_set_max: the first member with weight > 0, then any with higher overhead/weight. */
function setMax(members: number[], reals: RealState[]): number {
  let most = -1;
  for (const m of members) {
    const d = reals[m]!;
    if (d.member === false || d.weight <= 0) continue;
    if (most < 0) most = m;
    else {
      const h = reals[most]!;
      if (connOverhead(h) * d.weight < connOverhead(d) * h.weight) most = m;
    }
  }
  return most;
}

/**
 * lblcr: the destination's set (undefined: no entry) -> the pick and the set after it, at time
 * nowNs with cfg.lblcr_shrink_ns = shrinkNs. The set is changed in place.
 */
export function pickLblcr(
  set: LblcrSet | undefined, reals: RealState[], nowNs: bigint, shrinkNs: bigint,
): { pick: number; set: LblcrSet | undefined } {
  if (set === undefined) {
    const pick = leastPerWeight(reals, connOverhead);
    return { pick, set: pick < 0 ? undefined : { members: [pick], modifiedNs: nowNs } };
  }
  const members = set.members;
  const min = setMin(members, reals);
  // A member no longer allocated to the service is dropped (the last one found, one per flow).
  const stale = [...members].reverse().find((m) => reals[m]!.member === false);
  if (stale !== undefined) erase(members, stale);
  let max = setMax(members, reals);
  if (members.length > 1 && max >= 0 && nowNs > set.modifiedNs + shrinkNs) {
    erase(members, max);
    set.modifiedNs = nowNs;
    max = -1;
  }
  if (min >= 0 && !localityOverloaded(reals[min]!, reals)) return { pick: min, set };
  const pick = leastPerWeight(reals, connOverhead);
  if (pick < 0) return { pick, set };
  // Joining changes the set (and its time); a pick already in it changes nothing (IPVS).
  if (!members.includes(pick)) {
    if (members.length >= XLVS_LBLCR_SET) erase(members, max >= 0 ? max : members[0]!);
    members.push(pick);
    set.modifiedNs = nowNs;
  }
  return { pick, set };
}

/** The flow as sh/dh/mh hash it. */
export interface HashKey {
  src: Buffer; // 16 bytes, ABI form
  dst: Buffer;
  family: number; // 4 | 6
  sport: number;
}

export interface HashFlags {
  fallback: boolean;
  port: boolean;
}

/**
 * rr/wrr once the ring gave no available real (IPVS walks on through its list; xlvs walks the
 * reals): the available reals take turns in config order, one turn each (rr) or their weight's
 * worth (wrr), and `ticket` says whose turn it is (ticket mod the sum of the turns).
 */
export function pickSpread(reals: RealState[], ticket: number, weighted: boolean): number {
  const turns = reals.map((r) => (available(r) ? (weighted ? r.weight : 1) : 0));
  const total = turns.reduce((a, b) => a + b, 0);
  if (total === 0) return -1;
  let turn = ticket % total;
  return turns.findIndex((t) => {
    if (turn < t) return true;
    turn -= t;
    return false;
  });
}

/**
 * rr/wrr through the ring from the service's cursor: the next XLVS_RING_TRIES slots, the first
 * available real among them; failing that, pickSpread with the cursor (after the tries) in units
 * of the tries as the ticket. Returns the pick and the cursor after it (32 bits, wrapping).
 */
export function pickRing(
  ring: number[], reals: RealState[], cursor: number, weighted: boolean,
): { pick: number; cursor: number } {
  if (ring.length === 0) return { pick: -1, cursor };
  for (let i = 0; i < XLVS_RING_TRIES; i++) {
    const pos = (cursor + i) >>> 0;
    const r = ring[pos % ring.length]!;
    if (available(reals[r]!)) return { pick: r, cursor: (pos + 1) >>> 0 };
  }
  const after = (cursor + XLVS_RING_TRIES) >>> 0;
  return { pick: pickSpread(reals, Math.floor(after / XLVS_RING_TRIES), weighted), cursor: after };
}

/**
 * sh/mh once the table's tries gave no available real: rendezvous hashing. Every available real
 * scores the hash of its address and port keyed by the client's hash; the highest score wins,
 * the first in config order on a tie. Weights only decide availability.
 */
export function pickRendezvous(reals: RealState[], clientHash: number): number {
  let best = -1;
  let bestScore = -1;
  reals.forEach((r, i) => {
    if (!available(r)) return;
    if (r.addr === undefined) throw new InvalidArgumentError(`reals[${i}].addr`, r.addr, 'is needed by the rendezvous fallback');
    const score = hashAddr(r.addr.addr, r.addr.family, r.addr.port, clientHash, 0);
    if (score > bestScore) {
      best = i;
      bestScore = score;
    }
  });
  return best;
}

/**
 * sh/dh/mh: real = table[hash % len], rehashed up to XLVS_HASH_TRIES times with fallback (sh, mh
 * only), and then the rendezvous over all reals keyed by the first hash.
 */
export function pickHashed(
  sched: 'sh' | 'dh' | 'mh', table: number[], reals: RealState[], k: HashKey, seed: number, flags: HashFlags,
): number {
  if (table.length === 0) return -1;
  const dh = sched === 'dh';
  const addr = dh ? k.dst : k.src;
  const port = !dh && flags.port ? k.sport : 0;
  const tries = !dh && flags.fallback ? XLVS_HASH_TRIES : 1;
  for (let i = 0; i < tries; i++) {
    const r = table[hashAddr(addr, k.family, port, seed, i) % table.length]!;
    if (available(reals[r]!)) return r;
  }
  return !dh && flags.fallback ? pickRendezvous(reals, hashAddr(addr, k.family, port, seed, 0)) : -1;
}
