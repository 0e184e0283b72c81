// SPDX-License-Identifier: Apache-2.0
// The benchmarks' traffic generator: an XDP packet loop (bench/bpf/bench_gen.bpf.c says how it works).
// LoopGen.create() makes a private veth pair in the namespace of the target device, attaches the
// loop program to one end and fills the broadcast DEVMAP (FAN-1 entries to the target, one back
// into the loop); configure() installs a stream (bench/traffic/gen-stream.ts); send() injects the seed
// through the project's raw-frame sender (src/host/raw-frames.ts) and waits, bounded by a
// wall clock, until the loop program ends the loop at its count or its deadline.
//
// Why a loop: every other way to put frames on a veth here costs a system call or an skb per
// frame (AF_PACKET 0.52 Mpps); BPF_F_TEST_XDP_LIVE_FRAMES, which had none, is refused by the
// CI kernels. The loop also needs no thread of ours while it runs: the kernel's softirq does it.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import koffi from 'koffi';
import { BpfObject } from '../../src/kernel/object.js';
import { u32, type Codec } from '../../src/kernel/codec.js';
import type { BpfMap } from '../../src/kernel/map.js';
import { ensureBpffs, unpin } from '../../src/kernel/bpffs.js';
import { XdpLink } from '../../src/kernel/link.js';
import { bpfDevmapVal, offsets } from '../../src/kernel/structs.js';
import { ifindexIn, inNetns } from '../../src/kernel/test-run.js';
import { RawFrames } from '../../src/host/raw-frames.js';
import { NETNS_DIR, nsArgv, run } from '../../lab/proc.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { byteArrayCodec } from '../common/bytes-codec.js';
import { LoopGenError } from '../common/errors.js';
import { buildGenTemplate, CFG, GEN_CFG_LAYOUT, checkInt, encodeGenCfg, GEN_FAN_MAX, GEN_FRAME_MAX, validateGenOptions, type GenOptions, type GenStream, type GenTemplate } from './gen-stream.js';
import { cpuList, decodeGenState, GEN_STATE_LAYOUT, GEN_STATE_SIZE, parseVethXmit, runBounds, runResult, STALL_NS, type GenState, type LoopRun, type RunBounds } from './loop-gen-state.js';
import { fromRoot } from '../../src/paths.js';

const ROOT = fromRoot();
export const GEN_OBJECT = join(ROOT, 'build/bench_gen.bpf.o');

/** Default copies per round: the most a receiving NAPI poll takes at once (its budget). */
export const DEFAULT_FAN = GEN_FAN_MAX;
/** One seed: two would need a two-queue target whose peer's NAPI runs on two CPUs. */
export const SEEDS = 1;
/** How often send() looks at the loop's progress: a tenth of the time so far, so a short run is
 * seen to end within a millisecond and a long one costs no CPU to watch. */
const POLL_MIN_MS = 1;
const POLL_MAX_MS = 10;
/** A running loop makes a round every few microseconds: none in this long, and nothing circulates. */
const STOP_QUIET_MS = 5;

export interface LoopGenOptions {
  /** The named namespace (under /run/netns) the target device is in; the loop is made there. */
  ns: string;
  /** The device the frames leave by (its IPv6 is switched off); its veth peer must run an XDP program to take them. */
  target: string;
  /** Copies per round, 2..64: FAN-1 to the target, one back into the loop (default 64). */
  fan?: number;
}

const stateCodec: Codec<GenState> = {
  name: 'struct gen_state',
  size: GEN_STATE_SIZE,
  // Only ever written to zero it before a run.
  encode: (_v, b, o) => void b.fill(0, o, o + GEN_STATE_SIZE),
  decode: decodeGenState,
};
const ZERO_STATE = decodeGenState(Buffer.alloc(GEN_STATE_SIZE), 0);
/** struct bpf_devmap_val (src/kernel/structs.ts): the device and the program run on each frame sent to it. */
const DEVMAP_VAL = offsets(bpfDevmapVal, ['ifindex', 'bpf_prog'] as const);
const devmapValCodec: Codec<{ ifindex: number; progFd: number }> = {
  name: 'struct bpf_devmap_val',
  size: koffi.sizeof(bpfDevmapVal),
  encode: (v, b, o) => {
    b.writeUInt32LE(v.ifindex, o + DEVMAP_VAL.ifindex);
    b.writeInt32LE(v.progFd, o + DEVMAP_VAL.bpf_prog);
  },
  // The kernel answers with the program's id where the fd was.
  decode: (b, o) => ({ ifindex: b.readUInt32LE(o + DEVMAP_VAL.ifindex), progFd: b.readInt32LE(o + DEVMAP_VAL.bpf_prog) }),
};

export class LoopGen {
  private stream: { s: GenStream; t: GenTemplate } | undefined;
  private running = false;
  private closed = false;

  private constructor(
    private readonly obj: BpfObject,
    private readonly cfg: BpfMap<number, Buffer>,
    private readonly state: BpfMap<number, GenState>,
    private readonly link: XdpLink,
    private readonly raw: RawFrames,
    private readonly pinDir: string,
    readonly ns: string,
    readonly target: string,
    /** The loop pair: the seed is sent out of loop[0] and circulates into loop[1]. */
    readonly loop: readonly [string, string],
    readonly loopIfindex: number,
    readonly fan: number,
  ) {}

  /** Makes the loop next to `target` and loads the programs; close() undoes it all. */
  static async create(o: LoopGenOptions): Promise<LoopGen> {
    const fan = checkInt('fan', o.fan ?? DEFAULT_FAN, 2, GEN_FAN_MAX);
    const nsPath = join(NETNS_DIR, o.ns);
    const targetIfindex = ifindexIn(nsPath, o.target);
    const id = randomBytes(3).toString('hex');
    const loop = [`xlg${id}a`, `xlg${id}b`] as const;
    const pinDir = `/sys/fs/bpf/xlvs-bench-gen-${process.pid}-${id}`;
    const undo: Array<() => unknown> = [];
    try {
      // Nothing but the loop may send out of the target: a frame from the namespace's own stack
      // (IPv6 router solicitations, MLD reports after link-up) wakes the receiver's NAPI on the
      // sending CPU, where it keeps running beside the loop instead of taking turns with it, and
      // the loop then outruns it (the surplus refused by the receiver's ring; seen here). IPv4
      // needs no such frame. Left so: from here on the target is the generator's.
      await run(nsArgv(o.ns, ['sysctl', '-q', '-w', `net.ipv6.conf.${o.target}.disable_ipv6=1`]));
      await run(nsArgv(o.ns, ['ip', 'link', 'add', loop[0], 'type', 'veth', 'peer', 'name', loop[1]]));
      undo.push(() => run(nsArgv(o.ns, ['ip', 'link', 'del', loop[0]])));
      // No IPv6 on the loop: the kernel's own frames (router solicitations, MLD) would be seeds.
      for (const dev of loop) await run(nsArgv(o.ns, ['sysctl', '-q', '-w', `net.ipv6.conf.${dev}.disable_ipv6=1`]));
      for (const dev of loop) await run(nsArgv(o.ns, ['ip', 'link', 'set', 'dev', dev, 'up']));
      const obj = BpfObject.open(GEN_OBJECT, { pinRoot: pinDir });
      undo.push(() => obj.close());
      obj.verifyAbi({ gen_cfg: GEN_CFG_LAYOUT, gen_state: GEN_STATE_LAYOUT });
      obj.load();
      ensureBpffs(pinDir);
      undo.push(() => unpin(pinDir));
      const [loopIfindex, loopRx] = loop.map((d) => ifindexIn(nsPath, d)) as [number, number];
      const genFd = obj.programFd('xlvs_bench_gen');
      const ports = obj.map('gen_ports', u32, devmapValCodec);
      // A DEVMAP resolves ifindexes in the namespace of the thread that writes it.
      inNetns(nsPath, () => {
        for (let k = 0; k < fan - 1; k++) ports.update(k, { ifindex: targetIfindex, progFd: genFd });
        ports.update(fan - 1, { ifindex: loopIfindex, progFd: genFd });
      });
      const link = inNetns(nsPath, () => XdpLink.attach(obj.programFd('xlvs_bench_loop'), loopRx, 'native', join(pinDir, 'link')));
      undo.push(() => link.destroy());
      const raw = inNetns(nsPath, () => new RawFrames({ ifindex: loopIfindex, batch: SEEDS, frameMax: GEN_FRAME_MAX }));
      return new LoopGen(obj, obj.map('gen_cfg', u32, byteArrayCodec('struct gen_cfg', CFG.size)), obj.map('gen_state', u32, stateCodec),
        link, raw, pinDir, o.ns, o.target, loop, loopIfindex, fan);
    } catch (e) {
      for (const u of undo.reverse()) await Promise.resolve().then(u).catch(() => undefined);
      throw e;
    }
  }

  /** What the report names: how the frames were made. */
  get description(): string {
    return `XDP packet loop, FAN ${this.fan}, seeds ${SEEDS}`;
  }

  /** Validates and installs a stream; every send() starts it again at flow 0. */
  configure(o: GenOptions): GenStream {
    this.idle('configure()');
    const s = validateGenOptions(o);
    const t = buildGenTemplate(s);
    this.stream = { s, t };
    this.writeCfg(0, 0);
    return s;
  }

  /** The loop's progress now (of the current or the last run). */
  progress(): GenState {
    const st = this.state.lookup(0);
    if (st === undefined) throw new LoopGenError(`gen_state has no entry 0 (${this.describeLoop()})`);
    return st;
  }

  /**
   * Generates `count` frames of the stream out of the target, or as many as the loop makes in
   * `seconds` (the kernel's bound on the loop; default: generous for `count`). Resolves when the
   * loop has ended; throws LoopGenError if it stalls or outlives its wall-clock bound. Everything
   * up to the seed happens before it first yields, so progress() is this run's from its return.
   */
  async send(count: number, o: { seconds?: number } = {}): Promise<LoopRun> {
    this.idle('send()');
    if (this.stream === undefined) throw new InvalidArgumentError('stream', undefined, 'configure() the generator before send()');
    const b = runBounds(count, o.seconds);
    this.running = true;
    try {
      this.state.update(0, ZERO_STATE);
      this.writeCfg(count, b.maxNs);
      const t0 = process.hrtime.bigint();
      const seeded = this.raw.sendFrames([this.stream.t.frame]);
      if (seeded.sent !== 1) throw new LoopGenError(`the seed was not sent out of ${this.loop[0]} (errno ${seeded.errno})`);
      const st = await this.waitForEnd(t0, b);
      return runResult(st, count, Number(process.hrtime.bigint() - t0));
    } finally {
      this.running = false;
    }
  }

  /** Frames in `seconds` (as many as the loop makes; the count is the run's safety bound). */
  sendFor(seconds: number): Promise<LoopRun> {
    return this.send(Number.MAX_SAFE_INTEGER, { seconds });
  }

  /** Polls until every seed has ended; stops the loop and throws when it stalls or overruns. */
  private async waitForEnd(t0: bigint, b: RunBounds): Promise<GenState> {
    let st = this.progress();
    let moved = t0;
    let rounds = -1;
    while (st.ended < SEEDS) {
      await sleep(Math.min(POLL_MAX_MS, Math.max(POLL_MIN_MS, Number(process.hrtime.bigint() - t0) / 1e7)));
      st = this.progress();
      const now = process.hrtime.bigint();
      if (st.rounds !== rounds) {
        rounds = st.rounds;
        moved = now;
      } else if (now - moved > BigInt(b.stallNs)) {
        await this.stop();
        throw new LoopGenError(rounds === 0
          ? `the seed never came round the loop ${this.loop.join(' -> ')} in ${this.ns} (is XDP attached to ${this.loop[1]}?)`
          : `the loop stalled after ${rounds} rounds (${st.next} frames): the seed was lost`);
      }
      if (now - t0 > BigInt(b.wallNs)) {
        await this.stop();
        throw new LoopGenError(`the loop outlived its wall-clock bound of ${b.wallNs / 1e9} s (${st.next} frames, ${st.rounds} rounds)`);
      }
    }
    return st;
  }

  /** The CPUs a run started by send() runs on, once its first round is done (within the stall bound). */
  async runningCpus(): Promise<number[]> {
    const t0 = Date.now();
    for (let st = this.progress(); ; st = this.progress()) {
      if (st.rounds > 0) return cpuList(st.cpus);
      if (st.ended > 0 || Date.now() - t0 > STALL_NS / 1e6) throw new LoopGenError(`no round of the loop ${this.describeLoop()} to take its CPU from (ended ${st.ended})`);
      await sleep(POLL_MIN_MS);
    }
  }

  /**
   * Ends a running loop: count 0 makes the loop program drop the seed at its next arrival, within
   * microseconds; a loop with no round for STOP_QUIET_MS has nothing circulating (a lost seed).
   */
  private async stop(): Promise<void> {
    if (this.stream === undefined) return;
    this.writeCfg(0, 0);
    const t0 = Date.now();
    for (let rounds = -1; Date.now() - t0 < STALL_NS / 1e6;) {
      const st = this.progress();
      if (st.ended > 0 || st.rounds === rounds) return;
      rounds = st.rounds;
      await sleep(STOP_QUIET_MS);
    }
    throw new LoopGenError(`the loop ${this.describeLoop()} did not stop within ${STALL_NS / 1e9} s of being told to`);
  }

  private writeCfg(count: number, maxNs: number): void {
    const { s, t } = this.stream!;
    this.cfg.update(0, encodeGenCfg(s, t, { loopIfindex: this.loopIfindex, targets: this.fan - 1, count, maxNs }));
  }

  private idle(what: string): void {
    if (this.closed) throw new LoopGenError(`${what} on a closed generator (${this.describeLoop()})`);
    if (this.running) throw new LoopGenError(`${what} while a run is in progress (${this.describeLoop()}): one run at a time`);
  }

  /**
   * Frames the target's peer took (xdp_xmit) and refused, its ring full (xdp_xmit_errors), since
   * the target was made: the surplus of a loop that outruns the receiver shows here.
   */
  async targetStats(): Promise<{ xmit: number; xmitErrors: number }> {
    return parseVethXmit((await run(nsArgv(this.ns, ['ethtool', '-S', this.target]))).stdout);
  }

  get progFds(): { loop: number; gen: number } {
    return { loop: this.obj.programFd('xlvs_bench_loop'), gen: this.obj.programFd('xlvs_bench_gen') };
  }

  private describeLoop(): string {
    return `${this.loop.join('/')} in ${this.ns}, target ${this.target}`;
  }

  /** Stops the loop, detaches, removes the veth pair and the pins. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const steps: Array<() => unknown> = [
      () => this.stop(), () => this.raw.close(), () => this.link.destroy(), () => this.obj.close(), () => unpin(this.pinDir),
      // The namespace may be gone already (a lab destroyed first): then so is the pair.
      () => run(nsArgv(this.ns, ['ip', 'link', 'del', this.loop[0]])).catch(() => undefined),
    ];
    let first: unknown;
    for (const step of steps) {
      try {
        await step();
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined) throw first;
  }
}
