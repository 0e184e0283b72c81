// SPDX-License-Identifier: Apache-2.0
// The restoring wrapper of bench/bpf/bench_restore.bpf.c: BPF_PROG_TEST_RUN with `repeat` over a
// program that rewrites its packet. Each run writes the template frame back (optionally with
// the next source port, so every run is a new flow), then tail-calls the target program.

import { BpfObject } from '../../src/kernel/object.js';
import { ensureBpffs, unpin } from '../../src/kernel/bpffs.js';
import { u32 } from '../../src/kernel/codec.js';
import type { BpfMap } from '../../src/kernel/map.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { byteArrayCodec } from '../common/bytes-codec.js';
import { fromRoot } from '../../src/paths.js';

/** bench_frame's value: BENCH_FRAME_MAX bytes (the map's value size is checked against this). */
const FRAME_MAX = 128;
const frameCodec = byteArrayCodec('struct frame_bytes', FRAME_MAX);

/** bench_knobs keys, as in bench/bpf/bench_restore.bpf.c. */
const KNOB = { LEN: 0, VARY: 1, COUNTER: 2 } as const;

export class Restorer {
  private constructor(
    private readonly obj: BpfObject,
    private readonly pin: string,
    private readonly target: BpfMap<number, number>,
    private readonly frame: BpfMap<number, Buffer>,
    private readonly knobs: BpfMap<number, number>,
  ) {}

  static load(pin: string): Restorer {
    ensureBpffs(pin);
    const obj = BpfObject.open(fromRoot('build/bench_restore.bpf.o'), { pinRoot: pin });
    try {
      obj.load();
      return new Restorer(obj, pin, obj.map('bench_target', u32, u32), obj.map('bench_frame', u32, frameCodec), obj.map('bench_knobs', u32, u32));
    } catch (e) {
      obj.close();
      unpin(pin);
      throw e;
    }
  }

  get progFd(): number {
    return this.obj.programFd('xlvs_bench_restore');
  }

  /**
   * What the next runs do: restore `frame` (IPv4 TCP/UDP when vary is set), then run the program
   * `targetFd`. With vary, run i uses source port (first + i) & 0xffff.
   */
  arm(targetFd: number, frame: Buffer, vary = false, first = 0): void {
    if (frame.length < 14 || frame.length > FRAME_MAX) throw new InvalidArgumentError('frame.length', frame.length, `must be 14..${FRAME_MAX}`);
    this.target.update(0, targetFd);
    this.frame.update(0, frame);
    this.knobs.update(KNOB.LEN, frame.length);
    this.knobs.update(KNOB.VARY, vary ? 1 : 0);
    this.knobs.update(KNOB.COUNTER, first);
  }

  /** Runs made so far with vary (the next source port). */
  get counter(): number {
    return this.knobs.lookup(KNOB.COUNTER) ?? 0;
  }

  close(): void {
    this.obj.close();
    unpin(this.pin);
  }
}
