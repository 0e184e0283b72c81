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
import { SYNC_END, XLVS_SYNC_REFRESH_S, wireFlow, type WireRecord } from './sync-records.js';

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

/** Installs one batch at `now` (this router's bpf clock, CLOCK_MONOTONIC). */
export function installRecords(t: InstallTargets, records: WireRecord[], now: bigint): InstallResult {
  const slots = t.slots();
  const entries: Array<[XlvsFlowKey, XlvsFlow]> = [];
  const templates: Array<[XlvsPersistKey, XlvsPersist]> = [];
  const r: InstallResult = { installed: 0, ended: 0, unknown: 0 };
  for (const rec of records) {
    if (rec.kind === SYNC_END) {
      t.flows.delete(rec.fk);
      t.flows.delete(rec.rk);
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
    const mine = (f: XlvsFlow): XlvsFlow => ({ ...wireFlow(f), expires_ns: expires, svc_id: svc.id, real_id: real.id });
    entries.push([rec.fk, mine(rec.fv)], [rec.rk, mine(rec.rv)]);
    r.installed++;
    const p = svc.spec.persistence;
    if (rec.fv.flags & XLVS_FLOW_F_PERSIST && p) {
      templates.push([
        { client: maskAddress(rec.fk.src, p.netmask, rec.fk.family), svc_id: svc.id, family: rec.fk.family },
        { expires_ns: now + BigInt(p.timeout) * NS, real_id: real.id },
      ]);
    }
  }
  t.flows.updateBatch(entries);
  t.persist.updateBatch(templates);
  return r;
}
