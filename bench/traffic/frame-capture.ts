// SPDX-License-Identifier: Apache-2.0
// The frame recorder of bench/bpf/bench_capture.bpf.c: attached (native XDP) to the device where the
// generator's frames arrive, it keeps the first CAPTURE_SLOTS IPv4 frames whole and drops them,
// so a test can check every generated frame byte by byte, as it came off the wire.

import { join } from 'node:path';
import { bytesAt, u32, u64, type Codec } from '../../src/kernel/codec.js';
import type { BpfMap } from '../../src/kernel/map.js';
import { PinnedXdp } from './pinned-xdp.js';
import { fromRoot } from '../../src/paths.js';

const ROOT = fromRoot();
export const CAPTURE_OBJECT = join(ROOT, 'build/bench_capture.bpf.o');

/** CAP_SLOTS and CAP_FRAME_MAX of bench/bpf/bench_capture.bpf.c. */
export const CAPTURE_SLOTS = 1024;
const CAPTURE_FRAME_MAX = 128;

/** struct cap_slot: the frame as kept (cut at CAPTURE_FRAME_MAX) and its length on the wire. */
const slotCodec: Codec<{ len: number; frame: Buffer }> = {
  name: 'struct cap_slot',
  size: 4 + CAPTURE_FRAME_MAX,
  encode: (_v, b, o) => void b.fill(0, o, o + 4 + CAPTURE_FRAME_MAX),
  decode: (b, o) => {
    const len = b.readUInt32LE(o);
    return { len, frame: bytesAt(b, o + 4, Math.min(len, CAPTURE_FRAME_MAX)) };
  },
};

export class FrameCapture {
  private constructor(
    private readonly xdp: PinnedXdp,
    private readonly slots: BpfMap<number, { len: number; frame: Buffer }>,
    private readonly count: BpfMap<number, bigint>,
  ) {}

  /** Loads the recorder and pins its program (under /sys/fs/bpf/xlvs-bench-capture-*, removed by close()). */
  static load(): FrameCapture {
    return PinnedXdp.load(CAPTURE_OBJECT, 'xlvs_bench_capture', 'capture', { cap_slot: { size: slotCodec.size, members: [['len', 0, 4], ['frame', 4, CAPTURE_FRAME_MAX]] } }, (x) => new FrameCapture(x, x.obj.map('cap_slots', u32, slotCodec), x.obj.map('cap_count', u32, u64)));
  }

  /** Attaches (native XDP, replacing whatever is attached) to dev in the named namespace. */
  attach(ns: string, dev: string): Promise<void> {
    return this.xdp.attach(ns, dev);
  }

  detach(): Promise<void> {
    return this.xdp.detach();
  }

  /** Forgets what was kept. Call it with no traffic flowing. */
  reset(): void {
    this.count.update(0, 0n);
  }

  /** IPv4 frames seen since reset(), kept or not. */
  get seen(): number {
    return Number(this.count.lookup(0) ?? 0n);
  }

  /** The frames kept, in the order they arrived; each with its length on the wire. */
  frames(): Array<{ len: number; frame: Buffer }> {
    const n = Math.min(this.seen, CAPTURE_SLOTS);
    return Array.from({ length: n }, (_, i) => this.slots.lookup(i)!);
  }

  /** Detaches (if attached), closes the object and removes the pins. */
  close(): Promise<void> {
    return this.xdp.close();
  }
}
