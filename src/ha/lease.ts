// SPDX-License-Identifier: Apache-2.0
// The data plane's side of active/backup HA (bpf/ha.h), written by the daemon:
//  - the lease: ha.lease_ns, a deadline on the data plane's clock (xlvs_now(): CLOCK_MONOTONIC,
//    read coarse). While XLVS_HA_F_ENABLED is set and the lease has run out, ARP requests and
//    neighbour solicitations for the floating addresses are dropped (drops: ha_standby), so a
//    router that stops renewing it (a hung daemon, a backup) stops answering for them by itself;
//  - the flags: XLVS_HA_F_ENABLED (the gate) and XLVS_HA_F_SYNC (flow records to sync_ring);
//  - the floating addresses (ha_floating).
// Only the daemon writes these; the flags and the lease are one map entry, rewritten whole.

import { InvalidArgumentError } from '../errors.js';
import { addressBytes, addressFromBytes, familyOf } from '../model/ip.js';
import type { BpfMap } from '../kernel/map.js';
import { XLVS_AF_INET, XLVS_AF_INET6, XLVS_MAX_FLOATING, type XlvsHa, type XlvsHaAddr } from '../gen/abi.js';
import { monotonicNs } from '../dataplane/reaper.js';

/** The maps this module writes (Maps of src/dataplane/handles.ts has them). */
export interface HaMaps {
  ha: BpfMap<number, XlvsHa>;
  haFloating: BpfMap<XlvsHaAddr, number>;
}

const NS_PER_MS = 1_000_000n;

/** The data plane's clock now, in ns: CLOCK_MONOTONIC (the BPF side reads the same clock coarse,
 * at most a tick behind, so it sees a lease as valid for up to a tick longer). */
export const dataplaneNowNs = (): bigint => monotonicNs();

/** The single entry of the ha map (zeros when never written: not enabled, no lease). */
export function readHa(maps: Pick<HaMaps, 'ha'>): XlvsHa {
  return maps.ha.lookup(0) ?? { lease_ns: 0n, flags: 0 };
}

/** Grants this router the lease for leaseMs from now (the flags are kept). Returns lease_ns. */
export function writeLease(maps: Pick<HaMaps, 'ha'>, leaseMs: number): bigint {
  if (!Number.isFinite(leaseMs) || leaseMs < 0) throw new InvalidArgumentError('leaseMs', leaseMs, 'must be a number of milliseconds >= 0');
  const lease_ns = dataplaneNowNs() + BigInt(Math.round(leaseMs)) * NS_PER_MS;
  maps.ha.update(0, { ...readHa(maps), lease_ns });
  return lease_ns;
}

/** Ends the lease at once (the flags are kept): with XLVS_HA_F_ENABLED, ARP/ND for the floating
 * addresses is dropped from now on. */
export function dropLease(maps: Pick<HaMaps, 'ha'>): void {
  maps.ha.update(0, { ...readHa(maps), lease_ns: 0n });
}

/** Sets ha.flags (XLVS_HA_F_ENABLED | XLVS_HA_F_SYNC), keeping the lease. */
export function setHaFlags(maps: Pick<HaMaps, 'ha'>, flags: number): void {
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) throw new InvalidArgumentError('flags', flags, 'must be a u32');
  maps.ha.update(0, { ...readHa(maps), flags });
}

/** The lease holds now, on the data plane's clock. */
export function leaseValid(maps: Pick<HaMaps, 'ha'>): boolean {
  return dataplaneNowNs() <= readHa(maps).lease_ns;
}

/** The ha_floating key of an address (v4 or v6, any spelling). */
export function floatingKey(address: string): XlvsHaAddr {
  const family = familyOf(address);
  if (family === null) throw new InvalidArgumentError('address', address, 'must be an IPv4 or IPv6 address');
  return { addr: addressBytes(address), family: family === 4 ? XLVS_AF_INET : XLVS_AF_INET6 };
}

const keyId = (k: XlvsHaAddr): string => `${k.family}/${k.addr.toString('hex')}`;

/** Makes ha_floating exactly `addresses` (v4/v6 strings): adds the new, deletes the rest. All are
 * checked before anything is written. */
export function setFloating(maps: Pick<HaMaps, 'haFloating'>, addresses: string[]): void {
  const want = new Map<string, XlvsHaAddr>();
  for (const a of addresses) {
    const k = floatingKey(a);
    want.set(keyId(k), k);
  }
  if (want.size > XLVS_MAX_FLOATING) throw new InvalidArgumentError('addresses', want.size, `at most ${XLVS_MAX_FLOATING} floating addresses`);
  const have = new Map<string, XlvsHaAddr>();
  for (const [k] of maps.haFloating.entries()) have.set(keyId(k), k);
  for (const [id, k] of want) if (!have.has(id)) maps.haFloating.update(k, 1);
  for (const [id, k] of have) if (!want.has(id)) maps.haFloating.delete(k);
}

/** The floating addresses ha_floating holds, canonical (model/ip.ts), sorted. */
export function readFloating(maps: Pick<HaMaps, 'haFloating'>): string[] {
  const out: string[] = [];
  for (const [k] of maps.haFloating.entries()) out.push(addressFromBytes(k.addr, k.family === XLVS_AF_INET ? 4 : 6));
  return out.sort();
}
