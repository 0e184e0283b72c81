// SPDX-License-Identifier: Apache-2.0
// The flows map as raw ABI bytes, for the sync's hot paths: a bulk walks a million entries and
// a receiver installs as many, and decoding each entry into an object (six Buffers) and back cost
// ~60 us a record. A sync record on the wire is raw bytes anyway (fk | fv | rk | rv); fields are
// read at the offsets of the generated layout (ABI_LAYOUT, checked against the object's BTF at load).

import { ABI_LAYOUT, XlvsFlow, XlvsFlowKey, XLVS_FLOW_F_DNAT, XLVS_FLOW_F_SNAT } from '../gen/abi.js';
import { BpfError } from '../errors.js';
import { lib, check } from '../kernel/libbpf.js';

const ENOENT = 2;
const ENOSPC = 28;

function member(struct: string, name: string): number {
  const m = ABI_LAYOUT[struct]?.members.find(([n]) => n === name);
  if (!m) throw new Error(`ABI layout: ${struct}.${name} missing`);
  return m[1];
}

export const K = XlvsFlowKey.size;
export const V = XlvsFlow.size;
/** fk | fv | rk | rv: the raw part of a sync record. */
export const PAIR_BYTES = 2 * (K + V);
export const FK = 0;
export const FV = K;
export const RK = K + V;
export const RV = 2 * K + V;

/** Offsets in struct xlvs_flow_key / xlvs_flow. */
export const KEY = { src: member('xlvs_flow_key', 'src'), dst: member('xlvs_flow_key', 'dst'), sport: member('xlvs_flow_key', 'sport'), dport: member('xlvs_flow_key', 'dport'), proto: member('xlvs_flow_key', 'proto'), family: member('xlvs_flow_key', 'family') };
export const FLOW = {
  expires: member('xlvs_flow', 'expires_ns'), natSrc: member('xlvs_flow', 'nat_src'), natDst: member('xlvs_flow', 'nat_dst'),
  natSport: member('xlvs_flow', 'nat_sport'), natDport: member('xlvs_flow', 'nat_dport'), realId: member('xlvs_flow', 'real_id'),
  svcId: member('xlvs_flow', 'svc_id'), dir: member('xlvs_flow', 'dir'), flags: member('xlvs_flow', 'flags'),
  /** nh_ifindex .. the end of nh_smac: the next-hop cache. */
  nhFrom: member('xlvs_flow', 'nh_ifindex'), nhTo: member('xlvs_flow', 'nh_smac') + 6,
};

/** [from, to) byte ranges of xlvs_flow that are a router's own: the deadline, the slots, the next-hop cache. */
const OWN: Array<[number, number]> = [[FLOW.expires, FLOW.expires + 8], [FLOW.realId, FLOW.realId + 4], [FLOW.svcId, FLOW.svcId + 4], [FLOW.nhFrom, FLOW.nhTo]];
/** The next-hop cache alone (an installer writes the deadline and the slots itself). */
const NH: Array<[number, number]> = [[FLOW.nhFrom, FLOW.nhTo]];

/** Zeroes what is a router's own in an entry at b[o]: the deadline, the slots, the next-hop cache.
 * Byte stores, not fill(): on the sync's hot path a native call per range cost more than the bytes. */
export function zeroOwn(b: Buffer | Uint8Array, o: number, ranges = OWN): void {
  for (const [from, to] of ranges) for (let i = o + from; i < o + to; i++) b[i] = 0;
}

/** zeroOwn of the next-hop cache only. */
export function zeroNextHop(b: Buffer | Uint8Array, o: number): void {
  zeroOwn(b, o, NH);
}

const TWO32 = 4294967296;
/** u64 fields as Numbers (no BigInt a record on the hot paths): exact below 2^53 ns (104 days of
 * uptime), within 2 us above, which a deadline does not notice. Written values clamp to [0, 2^64). */
export const readU64LE = (b: Buffer, o: number): number => b.readUInt32LE(o + 4) * TWO32 + b.readUInt32LE(o);
export const readU64BE = (b: Buffer, o: number): number => b.readUInt32BE(o) * TWO32 + b.readUInt32BE(o + 4);
function split(v: number): [number, number] {
  if (!(v > 0)) return [0, 0];
  const hi = Math.floor(v / TWO32);
  return hi > 0xffffffff ? [0xffffffff, 0xffffffff] : [hi, (v - hi * TWO32) >>> 0];
}
export function writeU64LE(b: Buffer, o: number, v: number): void {
  const [hi, lo] = split(v);
  b.writeUInt32LE(lo, o);
  b.writeUInt32LE(hi, o + 4);
}
export function writeU64BE(b: Buffer, o: number, v: number): void {
  const [hi, lo] = split(v);
  b.writeUInt32BE(hi, o);
  b.writeUInt32BE(lo, o + 4);
}

/** bpf/flow.h flow_partner_key on raw bytes: the key at k[ko] with its entry at v[vo] -> out[oo]. */
export function partnerKeyRaw(k: Buffer, ko: number, v: Buffer, vo: number, out: Buffer, oo: number): void {
  const flags = v[vo + FLOW.flags]!;
  const snat = (flags & XLVS_FLOW_F_SNAT) !== 0;
  const dnat = (flags & XLVS_FLOW_F_DNAT) !== 0;
  out.fill(0, oo, oo + K);
  out.set(snat ? v.subarray(vo + FLOW.natSrc, vo + FLOW.natSrc + 16) : k.subarray(ko + KEY.src, ko + KEY.src + 16), oo + KEY.dst);
  out.writeUInt16BE(snat ? v.readUInt16BE(vo + FLOW.natSport) : k.readUInt16BE(ko + KEY.sport), oo + KEY.dport);
  out.set(dnat ? v.subarray(vo + FLOW.natDst, vo + FLOW.natDst + 16) : k.subarray(ko + KEY.dst, ko + KEY.dst + 16), oo + KEY.src);
  out.writeUInt16BE(dnat ? v.readUInt16BE(vo + FLOW.natDport) : k.readUInt16BE(ko + KEY.dport), oo + KEY.sport);
  out[oo + KEY.proto] = k[ko + KEY.proto]!;
  out[oo + KEY.family] = k[ko + KEY.family]!;
}

/** The flows map in raw batches (BPF_MAP_LOOKUP_BATCH): keys and values of n entries each. */
export function* walkFlows(fd: number, chunk = 4096): Generator<{ keys: Buffer; vals: Buffer; n: number }> {
  const inBatch = Buffer.alloc(8);
  const outBatch = Buffer.alloc(8);
  const count = Buffer.alloc(4);
  let keys = Buffer.alloc(K * chunk);
  let vals = Buffer.alloc(V * chunk);
  let first = true;
  for (;;) {
    count.writeUInt32LE(chunk);
    const rc = lib.map_lookup_batch(fd, first ? null : inBatch, outBatch, keys, vals, count, null) as number;
    if (rc === -ENOSPC) {
      chunk *= 2;
      keys = Buffer.alloc(K * chunk);
      vals = Buffer.alloc(V * chunk);
      continue;
    }
    if (rc < 0 && rc !== -ENOENT) check('lookup_batch flows', rc);
    const n = count.readUInt32LE();
    if (n > 0) yield { keys, vals, n };
    if (rc === -ENOENT) return;
    inBatch.set(outBatch);
    first = false;
  }
}

/** One entry by a raw key (K bytes) into val (V bytes); false when absent. */
export function lookupRaw(fd: number, key: Buffer, val: Buffer): boolean {
  const rc = lib.map_lookup_elem(fd, key, val) as number;
  if (rc === -ENOENT) return false;
  check('lookup flows', rc);
  return true;
}

/** n raw entries in one BPF_MAP_UPDATE_BATCH. */
export function updateBatchRaw(fd: number, keys: Buffer, vals: Buffer, n: number): void {
  if (n === 0) return;
  const count = Buffer.alloc(4);
  count.writeUInt32LE(n);
  const rc = lib.map_update_batch(fd, keys, vals, count, null) as number;
  if (rc < 0) throw new BpfError('update_batch flows', -rc, `${count.readUInt32LE()} of ${n} written`);
}

/** Deletes a raw key; false when it was not there. */
export function deleteRaw(fd: number, key: Buffer): boolean {
  const rc = lib.map_delete_elem(fd, key) as number;
  if (rc === -ENOENT) return false;
  check('delete flows', rc);
  return true;
}
