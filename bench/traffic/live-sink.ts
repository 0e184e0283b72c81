// SPDX-License-Identifier: Apache-2.0
// The benchmarks' count-and-drop sink (bench/bpf/bench_sink.bpf.c): attached to the veth right after
// the router, it counts and drops every IP frame the router delivered (ARP/ND pass). Read it
// with counts(); per destination and per flow bucket on request (SinkFlags).

import { join } from 'node:path';
import { u32, u64, type Codec } from '../../src/kernel/codec.js';
import type { BpfMap, PerCpuMap } from '../../src/kernel/map.js';
import { PinnedXdp } from './pinned-xdp.js';
import { numberToIp4 } from './gen-stream.js';
import { fromRoot } from '../../src/paths.js';

const ROOT = fromRoot();
export const SINK_OBJECT = join(ROOT, 'build/bench_sink.bpf.o');

/** SINK_F_* of bench/bpf/bench_sink.bpf.c. */
export const SINK_F = { perDst: 1, perFlow: 2 } as const;
export const SINK_FLOW_BUCKETS = 65536;
const SINK_HASH_MUL = 0x9e3779b1;
/** enum sink_total. */
const TOTAL = { packets: 0, bytes: 1, passed: 2, dstFull: 3 } as const;

export interface SinkFlags {
  /** Count per destination (address, port, protocol). */
  perDst?: boolean;
  /** Count per flow bucket (see flowBucket). */
  perFlow?: boolean;
}

export interface SinkDst {
  addr: string;
  port: number;
  proto: number;
  family: 4 | 6;
}

export interface SinkCounts {
  /** IP frames counted and dropped. */
  packets: number;
  bytes: number;
  /** ARP, neighbour discovery and other non-IP frames, passed. */
  passed: number;
  /** Frames counted while the destination table was full (in no destination). */
  dstFull: number;
  /** Per destination, "addr:port/proto" -> frames (only with perDst). */
  dsts: Map<string, number>;
}

/** The sink's flow bucket of a frame from saddr:sport (bench_sink.bpf.c computes the same). */
export function flowBucket(saddr: number, sport: number): number {
  // u32 arithmetic as in C: imul wraps the product, >>> 0 the sum.
  return ((Math.imul(saddr | 0, SINK_HASH_MUL | 0) + sport) >>> 0) & (SINK_FLOW_BUCKETS - 1);
}

export function dstName(d: SinkDst): string {
  return `${d.addr}:${d.port}/${d.proto}`;
}

const dstCodec: Codec<SinkDst> = {
  name: 'struct sink_dst',
  size: 8,
  encode: (v, b, o) => {
    // Only ever used to delete keys read back from the map: IPv4 text or the IPv6 tail word.
    v.addr.split('.').forEach((x, i) => b.writeUInt8(Number(x), o + i));
    b.writeUInt16BE(v.port, o + 4);
    b.writeUInt8(v.proto, o + 6);
    b.writeUInt8(v.family, o + 7);
  },
  decode: (b, o) => ({ addr: numberToIp4(b.readUInt32BE(o)), port: b.readUInt16BE(o + 4), proto: b.readUInt8(o + 6), family: b.readUInt8(o + 7) === 6 ? 6 : 4 }),
};

const sum = (xs: readonly bigint[] | undefined): number => Number((xs ?? []).reduce((a, b) => a + b, 0n));

export class LiveSink {
  private constructor(
    private readonly xdp: PinnedXdp,
    private readonly cfg: BpfMap<number, number>,
    private readonly totals: PerCpuMap<number, bigint>,
    private readonly dsts: PerCpuMap<SinkDst, bigint>,
    private readonly flows: PerCpuMap<number, bigint>,
  ) {}

  /** Loads the sink and pins its program (under /sys/fs/bpf/xlvs-bench-sink-*, removed by close()). */
  static load(flags: SinkFlags = {}): LiveSink {
    return PinnedXdp.load(SINK_OBJECT, 'xlvs_bench_sink', 'sink', { sink_dst: { size: dstCodec.size, members: [['addr', 0, 4], ['port', 4, 2], ['proto', 6, 1], ['family', 7, 1]] } }, (x) => {
      const s = new LiveSink(x, x.obj.map('sink_cfg', u32, u32), x.obj.percpuMap('sink_totals', u32, u64), x.obj.percpuMap('sink_dsts', dstCodec, u64), x.obj.percpuMap('sink_flows', u32, u64));
      s.setFlags(flags);
      return s;
    });
  }

  setFlags(f: SinkFlags): void {
    this.cfg.update(0, (f.perDst === true ? SINK_F.perDst : 0) | (f.perFlow === true ? SINK_F.perFlow : 0));
  }

  /** Attaches (native XDP, replacing whatever is attached) to dev in the named namespace. */
  attach(ns: string, dev: string): Promise<void> {
    return this.xdp.attach(ns, dev);
  }

  detach(): Promise<void> {
    return this.xdp.detach();
  }

  /** Zeroes every counter. Call it with no traffic flowing. */
  reset(): void {
    const zeros = Array.from({ length: this.totals.ncpus }, () => 0n);
    for (const k of Object.values(TOTAL)) this.totals.update(k, zeros);
    for (const [k] of [...this.dsts.entries()]) this.dsts.delete(k);
    const z: Array<[number, bigint[]]> = [];
    for (const [k, v] of this.flows.entries()) if (v.some((x) => x !== 0n)) z.push([k, zeros]);
    this.flows.updateBatch(z);
  }

  counts(): SinkCounts {
    const dsts = new Map<string, number>();
    for (const [k, v] of this.dsts.entries()) dsts.set(dstName(k), sum(v));
    return {
      packets: sum(this.totals.lookup(TOTAL.packets)),
      bytes: sum(this.totals.lookup(TOTAL.bytes)),
      passed: sum(this.totals.lookup(TOTAL.passed)),
      dstFull: sum(this.totals.lookup(TOTAL.dstFull)),
      dsts,
    };
  }

  /** Frames per flow bucket (index = flowBucket(saddr, sport)); only with perFlow. */
  flowBuckets(): Float64Array {
    const out = new Float64Array(SINK_FLOW_BUCKETS);
    for (const [k, v] of this.flows.entries()) out[k] = sum(v);
    return out;
  }

  get progFd(): number {
    return this.xdp.progFd;
  }

  /** Detaches (if attached), closes the object and removes the pins. */
  close(): Promise<void> {
    return this.xdp.close();
  }
}
