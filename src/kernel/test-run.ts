// SPDX-License-Identifier: Apache-2.0
// BPF_PROG_TEST_RUN for XDP programs through libbpf's bpf_prog_test_run_opts: run a loaded
// program on one frame and read back its verdict, the frame it left and the kernel's time per
// run. The health probes' SYNs are built this way (the frame lands in a raw-frame sender's slot,
// host/raw-frames.ts), the fixtures and the fuzzer check the data plane this way.
//
// BPF_F_TEST_XDP_LIVE_FRAMES (the kernel transmitting what the program returns) is only tried,
// once, by liveFramesErrno(): some kernels refuse it (EPERM), and nothing of xlvs depends on it.
//
// The kernel resolves ctx.ingress_ifindex, and bpf_fib_lookup consults the FIB, in the network
// namespace of the calling thread. inNetns() runs synchronous code with the main thread moved
// into another namespace (setns affects only the calling thread), so a test can run a program
// "on" an interface of a lab namespace without a child process.

import koffi from 'koffi';
import { closeSync, openSync } from 'node:fs';
import { BpfError, InvalidArgumentError, NetnsAsyncError } from '../errors.js';
import { lib } from './libbpf.js';
import { checkLibc, libc } from './libc.js';
import { bpfTestRunOpts, libbpfOpts, offsets, xdpMd } from './structs.js';

const progTestRun = lib.prog_test_run_opts;
const setns = libc.setns;

const CLONE_NEWNET = 0x40000000;
const BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1;

/** Offsets in struct bpf_test_run_opts (structs.ts), set field by field on the fuzzer's hot path. */
const OPTS = {
  size: koffi.sizeof(bpfTestRunOpts),
  ...offsets(bpfTestRunOpts, ['sz', 'data_in', 'data_out', 'data_size_in', 'data_size_out', 'ctx_in', 'ctx_out', 'ctx_size_in', 'ctx_size_out', 'retval', 'repeat', 'duration'] as const),
};
/** struct xdp_md (structs.ts): the ctx given to and read back from a run. */
const XDP_MD_SIZE = koffi.sizeof(xdpMd);
const MD = offsets(xdpMd, ['data_end', 'ingress_ifindex', 'rx_queue_index'] as const);
/** Larger than any frame an XDP test run accepts (one page less head- and tailroom). */
const MAX_OUT = 16384;

export const XDP = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;
export type XdpVerdictName = 'XDP_ABORTED' | 'XDP_DROP' | 'XDP_PASS' | 'XDP_TX' | 'XDP_REDIRECT';
const VERDICT_NAMES: readonly XdpVerdictName[] = ['XDP_ABORTED', 'XDP_DROP', 'XDP_PASS', 'XDP_TX', 'XDP_REDIRECT'];

export function verdictName(v: number): string {
  return VERDICT_NAMES[v] ?? `XDP_UNKNOWN(${v})`;
}

export interface XdpMd {
  ingressIfindex: number;
  rxQueueIndex: number;
}

export interface RunOptions {
  /** Runs of the same input; durationNs is their average (default 1). */
  repeat?: number;
  /** ctx.ingress_ifindex: an interface of the calling thread's namespace (default: its loopback). */
  ingressIfindex?: number;
  rxQueueIndex?: number;
}

export interface RunResult {
  verdict: number;
  out: Buffer;
  durationNs: number;
  /** The ctx as the program left it. */
  ctx: XdpMd;
}

/**
 * One program, reused buffers: the fuzzer's hot path. run() returns the verdict and leaves the
 * output frame in `out[0, outLength)` until the next run. Not reentrant.
 */
export class XdpTestRunner {
  readonly out = Buffer.alloc(MAX_OUT);
  outLength = 0;
  durationNs = 0;
  private readonly opts = Buffer.alloc(OPTS.size);
  private readonly ctxIn = Buffer.alloc(XDP_MD_SIZE);
  readonly ctxOut = Buffer.alloc(XDP_MD_SIZE);
  private readonly outAddr: bigint;

  constructor(readonly progFd: number) {
    if (!Number.isInteger(progFd) || progFd < 0) throw new InvalidArgumentError('progFd', progFd, 'must be a file descriptor');
    this.outAddr = BigInt(koffi.address(this.out));
    this.opts.writeBigUInt64LE(BigInt(OPTS.size), OPTS.sz);
    this.opts.writeBigUInt64LE(BigInt(koffi.address(this.ctxIn)), OPTS.ctx_in);
    this.opts.writeBigUInt64LE(BigInt(koffi.address(this.ctxOut)), OPTS.ctx_out);
    this.opts.writeUInt32LE(XDP_MD_SIZE, OPTS.ctx_size_in);
  }

  /** Runs the program on frame[0, length); returns the verdict (XDP.*). */
  run(frame: Buffer, length = frame.length, o: RunOptions = {}): number {
    return this.runInto(frame, length, this.outAddr, MAX_OUT, o);
  }

  /**
   * The same with the output frame written at outAddr (at most outMax bytes), e.g. straight
   * into a raw-frame sender's slot; outLength is its length.
   */
  runInto(frame: Buffer, length: number, outAddr: bigint, outMax: number, o: RunOptions = {}): number {
    if (length < 14 || length > frame.length) throw new InvalidArgumentError('length', length, `must be 14..${frame.length} (the kernel wants at least an Ethernet header)`);
    const repeat = o.repeat ?? 1;
    if (!Number.isInteger(repeat) || repeat < 1 || repeat > 0x7fffffff) throw new InvalidArgumentError('repeat', repeat, 'must be an integer 1..2^31-1');
    const opts = this.opts;
    opts.writeBigUInt64LE(BigInt(koffi.address(frame)), OPTS.data_in);
    opts.writeUInt32LE(length, OPTS.data_size_in);
    opts.writeBigUInt64LE(outAddr, OPTS.data_out);
    opts.writeUInt32LE(outMax, OPTS.data_size_out);
    opts.writeUInt32LE(XDP_MD_SIZE, OPTS.ctx_size_out);
    opts.writeInt32LE(repeat, OPTS.repeat);
    writeCtx(this.ctxIn, length, o.ingressIfindex ?? 0, o.rxQueueIndex ?? 0);
    const rc = progTestRun(this.progFd, opts) as number;
    if (rc < 0) throw testRunError(rc, `prog fd ${this.progFd}, ${length}-byte frame, ingress ifindex ${o.ingressIfindex ?? 0}`);
    this.outLength = opts.readUInt32LE(OPTS.data_size_out);
    this.durationNs = opts.readUInt32LE(OPTS.duration);
    return opts.readUInt32LE(OPTS.retval);
  }
}

/** Runs progFd once (or `repeat` times) on frame; the output is a copy the caller keeps. */
export function runXdp(progFd: number, frame: Buffer, o: RunOptions = {}): RunResult {
  const r = new XdpTestRunner(progFd);
  const verdict = r.run(frame, frame.length, o);
  const out = Buffer.alloc(r.outLength);
  out.set(r.out.subarray(0, r.outLength));
  return {
    verdict,
    out,
    durationNs: r.durationNs,
    ctx: { ingressIfindex: r.ctxOut.readUInt32LE(MD.ingress_ifindex), rxQueueIndex: r.ctxOut.readUInt32LE(MD.rx_queue_index) },
  };
}

/**
 * Asks the kernel once to run progFd with BPF_F_TEST_XDP_LIVE_FRAMES on a 60-byte frame from
 * ifindex: 0 if it did, else the errno it refused with (EPERM on kernels that forbid it, EINVAL
 * before 5.18). progFd must drop the frame (it is really acted on).
 */
export function liveFramesErrno(progFd: number, ifindex: number): number {
  const frame = Buffer.alloc(60);
  const ctx = Buffer.alloc(XDP_MD_SIZE);
  writeCtx(ctx, frame.length, ifindex, 0);
  const opts = libbpfOpts(bpfTestRunOpts, {
    data_in: koffi.address(frame), data_size_in: frame.length, ctx_in: koffi.address(ctx), ctx_size_in: XDP_MD_SIZE,
    repeat: 1, flags: BPF_F_TEST_XDP_LIVE_FRAMES, batch_size: 1,
  });
  const rc = progTestRun(progFd, opts) as number;
  return rc < 0 ? -rc : 0;
}

function writeCtx(ctx: Buffer, length: number, ifindex: number, rxQueue: number): void {
  // data = 0 (no metadata) and data_end = the frame's length: the kernel insists on both.
  ctx.fill(0);
  ctx.writeUInt32LE(length, MD.data_end);
  ctx.writeUInt32LE(ifindex, MD.ingress_ifindex);
  ctx.writeUInt32LE(rxQueue, MD.rx_queue_index);
}

function testRunError(rc: number, detail: string): BpfError {
  const hint = rc === -19 ? ' (ENODEV: no such ingress ifindex in this thread\'s network namespace)' : rc === -22 ? ' (EINVAL: the frame or ctx was refused)' : '';
  return new BpfError('bpf_prog_test_run_opts', -rc, detail + hint);
}

/**
 * Runs fn with the calling (main) thread in the network namespace bound at nsPath (e.g.
 * /run/netns/NAME), then moves it back. fn must be synchronous: nothing else of this process
 * runs on the main thread meanwhile, so no other code sees the foreign namespace.
 */
export function inNetns<T>(nsPath: string, fn: () => T): T {
  const home = openSync('/proc/thread-self/ns/net', 'r');
  let target: number | undefined;
  try {
    target = openSync(nsPath, 'r');
    checkLibc('setns', setns(target, CLONE_NEWNET) as number, nsPath);
    let result: T;
    try {
      result = fn();
    } finally {
      // Failing to come back would leave the whole process in the wrong namespace: make it loud.
      checkLibc('setns (back to the original namespace)', setns(home, CLONE_NEWNET) as number);
    }
    if (result instanceof Promise) throw new NetnsAsyncError(nsPath);
    return result;
  } finally {
    if (target !== undefined) closeSync(target);
    closeSync(home);
  }
}

/** ifindex of ifname in the namespace at nsPath. */
export function ifindexIn(nsPath: string, ifname: string): number {
  const i = inNetns(nsPath, () => libc.if_nametoindex(ifname) as number);
  if (i === 0) throw new InvalidArgumentError('ifname', ifname, `no such interface in ${nsPath}`);
  return i;
}
