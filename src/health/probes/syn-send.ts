// SPDX-License-Identifier: Apache-2.0
// How a batch of SYN probes leaves: xlvs_private builds each slot's frame in a plain
// BPF_PROG_TEST_RUN (FIB source address, MACs, MSS, the tunnel header of a tun real; bpf/probe.h),
// the kernel writing it straight into a slot of the raw-frame sender; the frames built go out
// with one sendmmsg() on the private interface (host/raw-frames.ts). No live frames: this runs
// on kernels that refuse them.
//
// A test run takes a slot from probe_batch (its `next`), so the order of frames is the order of
// the batch's slots, whatever a run decides; a run that builds no frame (no neighbour, no route)
// has written why into the slot's result.

import { XdpTestRunner, XDP } from '../../kernel/test-run.js';
import { RawFrames } from '../../host/raw-frames.js';
import { ABI_LAYOUT, XLVS_PROBE_BATCH, XLVS_PROBE_FRAME4, XLVS_PROBE_FRAME6, XLVS_PROBE_TX_IFINDEX } from '../../gen/abi.js';
import { InvalidArgumentError, ProbeBatchError } from '../../errors.js';

/** struct xlvs_probe_batch as 32-bit word indexes (every member is a __u32 or an array of them). */
const BATCH = (() => {
  const l = ABI_LAYOUT['xlvs_probe_batch'];
  if (!l) throw new Error('struct xlvs_probe_batch missing from the generated ABI layout');
  const o = Object.fromEntries(l.members.map(([name, off]) => [name, off / 4]));
  return { next: o['next']!, count: o['count']!, ifindex: o['ifindex']!, slots: o['slots']! };
})();

/** Bytes a probe's frame may have: the largest SYN (IPv6) with the largest tunnel header, rounded up. */
const FRAME_MAX = 256;

/** What one send() did with each slot of its batch. */
export interface SynBatchOutcome {
  /** Built and taken by the device, in batch order. */
  sent: number[];
  /** Built, but the device refused them (errno): not on the wire. */
  unsent: number[];
  errno: number;
  /** Neither: the slot's result says why (NO_NEIGH, NO_ROUTE, ...). */
  notBuilt: number[];
}

export class SynSender {
  /** The frames given to each run: exactly a SYN's size (bpf/probe.h checks it); contents unused. */
  private readonly input = { 4: Buffer.alloc(XLVS_PROBE_FRAME4), 6: Buffer.alloc(XLVS_PROBE_FRAME6) };
  private readonly runner: XdpTestRunner;
  private readonly raw: RawFrames;
  private readonly lengths: number[] = [];
  /** struct xlvs_probe_batch, by the word indexes in BATCH. */
  private readonly batch: Uint32Array;

  /**
   * progFd: xlvs_private; batchMem: the mapped probe_batch; ifindex: the private interface, in
   * the calling thread's namespace. Throws BpfError when the raw socket cannot be opened.
   */
  constructor(progFd: number, batchMem: ArrayBuffer, ifindex: number, readonly burst: number) {
    if (!Number.isInteger(burst) || burst < 1 || burst > XLVS_PROBE_BATCH) throw new InvalidArgumentError('burst', burst, `must be an integer 1..${XLVS_PROBE_BATCH}`);
    this.batch = new Uint32Array(batchMem, 0, BATCH.slots + XLVS_PROBE_BATCH);
    this.runner = new XdpTestRunner(progFd);
    this.raw = new RawFrames({ ifindex, batch: burst, frameMax: FRAME_MAX });
    this.batch[BATCH.ifindex] = ifindex;
  }

  /**
   * Builds and sends the SYNs of `slots` (one family, at most `burst`). `beforeSend(built)` runs
   * just before the send call (to stamp the slots' sent_ns). Throws BpfError when a test run
   * fails (the program or the interface went away): nothing was sent then.
   */
  send(family: 4 | 6, slots: readonly number[], beforeSend: (built: readonly number[]) => void): SynBatchOutcome {
    const n = slots.length;
    if (n > this.burst) throw new InvalidArgumentError('slots', n, `must be at most ${this.burst} per batch`);
    const b = this.batch;
    b[BATCH.next] = 0;
    b[BATCH.count] = n;
    b.set(slots, BATCH.slots);
    const frame = this.input[family];
    const built: number[] = [];
    const notBuilt: number[] = [];
    const lengths = this.lengths;
    lengths.length = 0;
    for (let i = 0; i < n; i++) {
      const v = this.runner.runInto(frame, frame.length, this.raw.slotAddress(built.length), FRAME_MAX, { ingressIfindex: XLVS_PROBE_TX_IFINDEX });
      // Each run takes the next slot of the batch: slot i is the one this run was about.
      if (v === XDP.REDIRECT) {
        built.push(slots[i]!);
        lengths.push(this.runner.outLength);
      } else {
        notBuilt.push(slots[i]!);
      }
    }
    if (b[BATCH.next] !== n) throw new ProbeBatchError(n, b[BATCH.next]);
    beforeSend(built);
    const r = this.raw.send(lengths);
    return { sent: built.slice(0, r.sent), unsent: built.slice(r.sent), errno: r.errno, notBuilt };
  }

  close(): void {
    this.raw.close();
  }
}
