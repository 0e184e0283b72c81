// SPDX-License-Identifier: Apache-2.0
// The flows map read whole for an oracle, without decoding: batches of raw keys and values
// (BPF_MAP_LOOKUP_BATCH), fields read at their offsets, entries found by a text key. Decoding
// 200,000 entries into objects (six Buffers each) took seconds; this takes a fraction.
// Offsets are those of the generated codecs (src/gen/abi.ts), checked against them at read().

import { lib } from '../src/kernel/libbpf.js';
import { BpfError } from '../src/errors.js';
import { XlvsFlow, XlvsFlowKey } from '../src/gen/abi.js';

const ENOENT = 2;
const ENOSPC = 28;
const K = XlvsFlowKey.size;
const V = XlvsFlow.size;

/** One text per 5-tuple and family; frames (frameKeyText) and entries give the same one. */
export function flowKeyText(v6: boolean, b: Buffer, src: number, dst: number, sport: number, dport: number, proto: number): string {
  if (!v6) return `4|${b.readUInt32BE(src)}|${b.readUInt32BE(dst)}|${sport}|${dport}|${proto}`;
  return `6|${b.toString('latin1', src, src + 16)}|${b.toString('latin1', dst, dst + 16)}|${sport}|${dport}|${proto}`;
}

/** The same text from addresses held in two buffers (a key's source, an entry's NAT address, ...). */
function keyTextOf(v6: boolean, sb: Buffer, so: number, db: Buffer, dOff: number, sport: number, dport: number, proto: number): string {
  if (!v6) return `4|${sb.readUInt32BE(so)}|${db.readUInt32BE(dOff)}|${sport}|${dport}|${proto}`;
  return `6|${sb.toString('latin1', so, so + 16)}|${db.toString('latin1', dOff, dOff + 16)}|${sport}|${dport}|${proto}`;
}

export class FlowTable {
  private readonly index = new Map<string, number>();
  private readonly where: Array<{ keys: Buffer; vals: Buffer; n: number }> = [];
  private readonly starts: number[] = [];
  size = 0;

  static read(fd: number): FlowTable {
    const t = new FlowTable();
    let chunk = 65536;
    const inBatch = Buffer.alloc(8);
    const outBatch = Buffer.alloc(8);
    const count = Buffer.alloc(4);
    let first = true;
    for (;;) {
      const keys = Buffer.alloc(K * chunk);
      const vals = Buffer.alloc(V * chunk);
      count.writeUInt32LE(chunk);
      const rc = lib.map_lookup_batch(fd, first ? null : inBatch, outBatch, keys, vals, count, null) as number;
      if (rc === -ENOSPC) {
        chunk *= 2;
        continue;
      }
      if (rc < 0 && rc !== -ENOENT) throw new BpfError('lookup_batch flows', -rc, 'reading the flow table');
      const n = count.readUInt32LE();
      if (n > 0) t.add(keys, vals, n);
      if (rc === -ENOENT) return t;
      inBatch.set(outBatch);
      first = false;
    }
  }

  private add(keys: Buffer, vals: Buffer, n: number): void {
    this.where.push({ keys, vals, n });
    this.starts.push(this.size);
    for (let i = 0; i < n; i++) this.index.set(this.keyTextIn(keys, i * K), this.size + i);
    this.size += n;
  }

  private keyTextIn(keys: Buffer, o: number): string {
    return keyTextOf(keys[o + 37] === 6, keys, o, keys, o + 16, keys.readUInt16BE(o + 32), keys.readUInt16BE(o + 34), keys[o + 36]!);
  }

  /** Entry number of a key text, if the table holds it. */
  find(text: string): number | undefined {
    return this.index.get(text);
  }

  private at(i: number): { keys: Buffer; vals: Buffer; k: number; v: number } {
    let c = this.where.length - 1;
    while (this.starts[c]! > i) c--;
    const j = i - this.starts[c]!;
    return { keys: this.where[c]!.keys, vals: this.where[c]!.vals, k: j * K, v: j * V };
  }

  keyText(i: number): string {
    const a = this.at(i);
    return this.keyTextIn(a.keys, a.k);
  }

  /** The key of the entry's partner (flow.h flow_partner_key: its packet after its rewrites, reversed). */
  partnerKeyText(i: number): string {
    const { keys, vals, k, v } = this.at(i);
    const flags = vals[v + 57]!;
    const snat = (flags & 1) !== 0;
    const dnat = (flags & 2) !== 0;
    const v6 = keys[k + 37] === 6;
    return keyTextOf(
      v6,
      dnat ? vals : keys, dnat ? v + 24 : k + 16,
      snat ? vals : keys, snat ? v + 8 : k,
      dnat ? vals.readUInt16BE(v + 42) : keys.readUInt16BE(k + 34),
      snat ? vals.readUInt16BE(v + 40) : keys.readUInt16BE(k + 32),
      keys[k + 36]!,
    );
  }

  key(i: number): XlvsFlowKey {
    const a = this.at(i);
    return XlvsFlowKey.decode(a.keys, a.k);
  }

  flow(i: number): XlvsFlow {
    const a = this.at(i);
    return XlvsFlow.decode(a.vals, a.v);
  }

  /** dir, real_id, svc_id without decoding the entry. */
  dir(i: number): number {
    const a = this.at(i);
    return a.vals[a.v + 56]!;
  }

  realId(i: number): number {
    const a = this.at(i);
    return a.vals.readUInt32LE(a.v + 48);
  }

  svcId(i: number): number {
    const a = this.at(i);
    return a.vals.readUInt32LE(a.v + 52);
  }

  /** The source address bytes of the entry's key (16, IPv4 in the first 4) and its family. */
  source(i: number): { b: Buffer; off: number; v6: boolean } {
    const a = this.at(i);
    return { b: a.keys, off: a.k, v6: a.keys[a.k + 37] === 6 };
  }
}
