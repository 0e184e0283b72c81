// SPDX-License-Identifier: Apache-2.0
// The peer's flow records -> this router's maps (the design's "Connection sync", installing):
// identities become this router's own slots, the deadline is this clock's now + the time the
// peer had left + a margin (the peer re-sends a live flow every XLVS_SYNC_REFRESH_S), the next-hop
// cache is zeroed (the routers' interfaces are their own), both entries go in one update batch;
// END deletes both keys. A persistent flow also renews its persistence template, with this
// router's netmask and timeout for the service. Per-real connection counts are not touched: the
// reaper's recount corrects them (bpf/conns.h conns_drift).

import type { BpfMap } from '../kernel/map.js';
import type { XlvsFlow, XlvsFlowKey, XlvsPersist, XlvsPersistKey } from '../gen/abi.js';
import { XLVS_FLOW_F_PERSIST } from '../gen/abi.js';
import type { SlotIndex } from '../dataplane/slots.js';
import { bytes } from './sync-frames.js';
import { RECORD_BYTES, SYNC_END, XLVS_SYNC_REFRESH_S, type ParsedRecords, type RawRecord } from './sync-records.js';
import { FK, FLOW, FV, K, KEY, RK, RV, V, deleteRaw, readU64BE, updateBatchRaw, writeU64LE, zeroNextHop, zeroOwn } from './sync-raw.js';

const NS = 1_000_000_000n;
/** What an installed flow lives beyond the peer's deadline: one refresh period and 10 s. */
export const SYNC_MARGIN_NS = BigInt(XLVS_SYNC_REFRESH_S + 10) * NS;

export interface InstallTargets {
  flows: BpfMap<XlvsFlowKey, XlvsFlow>;
  persist: BpfMap<XlvsPersistKey, XlvsPersist>;
  slots: () => SlotIndex;
}

export interface InstallResult {
  installed: number;
  ended: number;
  /** Records whose service or real this router does not have: skipped. */
  unknown: number;
}

/** A client address masked to a prefix length (bpf/addr.h addr_mask). */
export function maskAddress(a: Buffer, plen: number, family: number): Buffer {
  const out = Buffer.from(bytes(a));
  let bits = Math.min(plen, family === 4 ? 32 : 128);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits));
    out[i] = keep === 0 ? 0 : out[i]! & ((0xff << (8 - keep)) & 0xff);
    bits -= keep;
  }
  return out;
}

/** Installs one batch at `now` (this router's bpf clock, CLOCK_MONOTONIC), entries as raw bytes. */
export function installRecords(t: InstallTargets, records: RawRecord[], now: bigint): InstallResult {
  const slots = t.slots();
  const fd = t.flows.fd;
  const keys = Buffer.alloc(2 * records.length * K);
  const vals = Buffer.alloc(2 * records.length * V);
  const templates: Array<[XlvsPersistKey, XlvsPersist]> = [];
  const r: InstallResult = { installed: 0, ended: 0, unknown: 0 };
  let n = 0;
  for (const rec of records) {
    const p = rec.pair;
    if (rec.kind === SYNC_END) {
      deleteRaw(fd, Buffer.from(bytes(p.subarray(FK, FK + K))));
      deleteRaw(fd, Buffer.from(bytes(p.subarray(RK, RK + K))));
      r.ended++;
      continue;
    }
    const svc = slots.svcs.get(rec.service!);
    const real = svc?.reals.get(rec.real!);
    if (!svc || !real) {
      r.unknown++;
      continue;
    }
    const expires = now + rec.remainingNs + SYNC_MARGIN_NS;
    for (const [ko, vo] of [[FK, FV], [RK, RV]] as const) {
      keys.set(p.subarray(ko, ko + K), n * K);
      const o = n * V;
      vals.set(p.subarray(vo, vo + V), o);
      zeroOwn(vals, o);
      vals.writeBigUInt64LE(expires, o + FLOW.expires);
      vals.writeUInt32LE(svc.id, o + FLOW.svcId);
      vals.writeUInt32LE(real.id, o + FLOW.realId);
      n++;
    }
    r.installed++;
    const persistence = svc.spec.persistence;
    if (p[FV + FLOW.flags]! & XLVS_FLOW_F_PERSIST && persistence) {
      const family = p[FK + KEY.family]!;
      templates.push([
        { client: maskAddress(p.subarray(FK + KEY.src, FK + KEY.src + 16), persistence.netmask, family), svc_id: svc.id, family },
        { expires_ns: now + BigInt(persistence.timeout) * NS, real_id: real.id },
      ]);
    }
  }
  updateBatchRaw(fd, keys, vals, n);
  t.persist.updateBatch(templates);
  return r;
}

/** Buffers reused from one frame to the next (the receiver installs one frame at a time). */
let scratch = { keys: Buffer.alloc(0), vals: Buffer.alloc(0), del: Buffer.alloc(K) };

/**
 * installRecords on a RECORDS payload checked by parseRecords, walked by offsets: identities
 * resolved once a frame, entries copied into one update batch, no object per record.
 */
export function installPayload(t: InstallTargets, p: Buffer, parsed: ParsedRecords, now: bigint): InstallResult {
  const slots = t.slots();
  const fd = t.flows.fd;
  const { count, idents } = parsed;
  if (scratch.keys.length < 2 * count * K) scratch = { keys: Buffer.alloc(2 * count * K), vals: Buffer.alloc(2 * count * V), del: scratch.del };
  const { keys, vals, del } = scratch;
  const [k8, v8, d8, p8] = [bytes(keys), bytes(vals), bytes(del), bytes(p)];
  const ids = idents.map(({ service, real }) => {
    const svc = slots.svcs.get(service);
    const r = svc?.reals.get(real);
    return svc && r ? { svc, real: r, persistence: svc.spec.persistence } : undefined;
  });
  const templates: Array<[XlvsPersistKey, XlvsPersist]> = [];
  const r: InstallResult = { installed: 0, ended: 0, unknown: 0 };
  const [nowN, marginN] = [Number(now), Number(SYNC_MARGIN_NS)];
  let n = 0;
  for (let i = 0, o = parsed.at; i < count; i++, o += RECORD_BYTES) {
    const pa = o + 11;
    if (p[o] === SYNC_END) {
      p.copy(d8, 0, pa + FK, pa + FK + K);
      deleteRaw(fd, del);
      p.copy(d8, 0, pa + RK, pa + RK + K);
      deleteRaw(fd, del);
      r.ended++;
      continue;
    }
    const id = ids[p.readUInt16BE(o + 1)];
    if (!id) {
      r.unknown++;
      continue;
    }
    const expires = nowN + readU64BE(p, o + 3) + marginN;
    for (let e = 0; e < 2; e++) {
      const ko = pa + (e === 0 ? FK : RK);
      const vo = pa + (e === 0 ? FV : RV);
      k8.set(p8.subarray(ko, ko + K), n * K);
      const v = n * V;
      v8.set(p8.subarray(vo, vo + V), v);
      zeroNextHop(v8, v);
      writeU64LE(vals, v + FLOW.expires, expires);
      vals.writeUInt32LE(id.svc.id, v + FLOW.svcId);
      vals.writeUInt32LE(id.real.id, v + FLOW.realId);
      n++;
    }
    r.installed++;
    if (p[pa + FV + FLOW.flags]! & XLVS_FLOW_F_PERSIST && id.persistence) {
      const family = p[pa + FK + KEY.family]!;
      templates.push([
        { client: maskAddress(p.subarray(pa + FK + KEY.src, pa + FK + KEY.src + 16), id.persistence.netmask, family), svc_id: id.svc.id, family },
        { expires_ns: now + BigInt(id.persistence.timeout) * NS, real_id: id.real.id },
      ]);
    }
  }
  updateBatchRaw(fd, keys, vals, n);
  if (templates.length > 0) t.persist.updateBatch(templates);
  return r;
}
