// SPDX-License-Identifier: Apache-2.0
// BPF_PROG_TEST_RUN for XDP programs through libbpf's bpf_prog_test_run_opts: run a loaded
// program on one frame and read back its verdict, the frame it left and the kernel's time per
// run; or, with BPF_F_TEST_XDP_LIVE_FRAMES, have the kernel push frames through the program and
// really transmit/redirect them (a traffic generator; see /work/shared/LAB.md).
//
// The kernel resolves ctx.ingress_ifindex, and bpf_fib_lookup consults the FIB, in the network
// namespace of the calling thread. inNetns() runs synchronous code with the main thread moved
// into another namespace (setns affects only the calling thread), so a test can run a program
// "on" an interface of a lab namespace without a child process.

import koffi from 'koffi';
import { closeSync, openSync } from 'node:fs';
import { BpfError, InvalidArgumentError, XlvsError } from '../errors.js';
import { lib as bpfLib, checkLibc } from './libbpf.js';

const bpf = koffi.load('libbpf.so.1');
const libc = koffi.load('libc.so.6');
const progTestRun = bpf.func('int bpf_prog_test_run_opts(int prog_fd, void *opts)');
const setns = libc.func('int setns(int fd, int nstype)');

const CLONE_NEWNET = 0x40000000;
const BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1;

/** struct bpf_test_run_opts, libbpf 1.1.2 (x86_64): offsets of /usr/include/bpf/bpf.h. */
const OPTS = {
  size: 80, sz: 0, dataIn: 8, dataOut: 16, dataSizeIn: 24, dataSizeOut: 28, ctxIn: 32, ctxOut: 40,
  ctxSizeIn: 48, ctxSizeOut: 52, retval: 56, repeat: 60, duration: 64, flags: 68, cpu: 72, batchSize: 76,
} as const;
/** struct xdp_md: six __u32 (data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex). */
const XDP_MD_SIZE = 24;
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

  constructor(readonly progFd: number) {
    if (!Number.isInteger(progFd) || progFd < 0) throw new InvalidArgumentError('progFd', progFd, 'must be a file descriptor');
    this.opts.writeBigUInt64LE(BigInt(OPTS.size), OPTS.sz);
    this.opts.writeBigUInt64LE(BigInt(koffi.address(this.out)), OPTS.dataOut);
    this.opts.writeBigUInt64LE(BigInt(koffi.address(this.ctxIn)), OPTS.ctxIn);
    this.opts.writeBigUInt64LE(BigInt(koffi.address(this.ctxOut)), OPTS.ctxOut);
    this.opts.writeUInt32LE(XDP_MD_SIZE, OPTS.ctxSizeIn);
  }

  /** Runs the program on frame[0, length); returns the verdict (XDP.*). */
  run(frame: Buffer, length = frame.length, o: RunOptions = {}): number {
    if (length < 14 || length > frame.length) throw new InvalidArgumentError('length', length, `must be 14..${frame.length} (the kernel wants at least an Ethernet header)`);
    const repeat = o.repeat ?? 1;
    if (!Number.isInteger(repeat) || repeat < 1 || repeat > 0x7fffffff) throw new InvalidArgumentError('repeat', repeat, 'must be an integer 1..2^31-1');
    const opts = this.opts;
    opts.writeBigUInt64LE(BigInt(koffi.address(frame)), OPTS.dataIn);
    opts.writeUInt32LE(length, OPTS.dataSizeIn);
    opts.writeUInt32LE(MAX_OUT, OPTS.dataSizeOut);
    opts.writeUInt32LE(XDP_MD_SIZE, OPTS.ctxSizeOut);
    opts.writeInt32LE(repeat, OPTS.repeat);
    opts.writeUInt32LE(0, OPTS.flags);
    opts.writeUInt32LE(0, OPTS.batchSize);
    writeCtx(this.ctxIn, length, o.ingressIfindex ?? 0, o.rxQueueIndex ?? 0);
    const rc = progTestRun(this.progFd, opts) as number;
    if (rc < 0) throw testRunError(rc, `prog fd ${this.progFd}, ${length}-byte frame, ingress ifindex ${o.ingressIfindex ?? 0}`);
    this.outLength = opts.readUInt32LE(OPTS.dataSizeOut);
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
    ctx: { ingressIfindex: r.ctxOut.readUInt32LE(12), rxQueueIndex: r.ctxOut.readUInt32LE(16) },
  };
}

export interface LiveOptions {
  /** How many frames the kernel pushes through the program (1..2^31-1). */
  repeat: number;
  /** Frames per batch (default 64, the kernel's NAPI weight). */
  batchSize?: number;
  /** The interface the frames arrive on; XDP_TX sends them back out of it. Required. */
  ingressIfindex: number;
  rxQueueIndex?: number;
}

/**
 * BPF_F_TEST_XDP_LIVE_FRAMES: the kernel runs the program `repeat` times on copies of frame and
 * acts on the verdicts (XDP_TX/XDP_REDIRECT transmit, XDP_PASS enters the stack). The frame
 * buffers are recycled: a program that rewrites headers sees its own earlier output. Returns
 * the kernel's average ns per frame.
 */
export function liveFrames(progFd: number, frame: Buffer, o: LiveOptions): { durationNs: number } {
  const runner = new LiveFramesRunner(progFd, frame, o);
  return { durationNs: runner.run(o.repeat) };
}

/**
 * Live frames of one program and one frame, run many times: the options and ctx are built once
 * (the health probes' sender runs it a hundred times a second). `frame` is read by the kernel at
 * every run, so its contents may change between runs.
 */
export class LiveFramesRunner {
  private readonly opts = Buffer.alloc(OPTS.size);
  private readonly ctx = Buffer.alloc(XDP_MD_SIZE);

  constructor(readonly progFd: number, readonly frame: Buffer, o: Omit<LiveOptions, 'repeat'>) {
    if (!Number.isInteger(o.ingressIfindex) || o.ingressIfindex < 1) throw new InvalidArgumentError('ingressIfindex', o.ingressIfindex, 'must be an interface index >= 1');
    const batch = o.batchSize ?? 64;
    if (!Number.isInteger(batch) || batch < 1 || batch > 256) throw new InvalidArgumentError('batchSize', batch, 'must be an integer 1..256');
    if (frame.length < 14) throw new InvalidArgumentError('frame.length', frame.length, 'must be at least an Ethernet header (14)');
    writeCtx(this.ctx, frame.length, o.ingressIfindex, o.rxQueueIndex ?? 0);
    const opts = this.opts;
    opts.writeBigUInt64LE(BigInt(OPTS.size), OPTS.sz);
    opts.writeBigUInt64LE(BigInt(koffi.address(frame)), OPTS.dataIn);
    opts.writeUInt32LE(frame.length, OPTS.dataSizeIn);
    // Live mode refuses data_out and ctx_out.
    opts.writeBigUInt64LE(BigInt(koffi.address(this.ctx)), OPTS.ctxIn);
    opts.writeUInt32LE(XDP_MD_SIZE, OPTS.ctxSizeIn);
    opts.writeUInt32LE(BPF_F_TEST_XDP_LIVE_FRAMES, OPTS.flags);
    opts.writeUInt32LE(batch, OPTS.batchSize);
  }

  /** Pushes `repeat` frames through the program; returns the kernel's average ns per frame. */
  run(repeat: number): number {
    if (!Number.isInteger(repeat) || repeat < 1 || repeat > 0x7fffffff) throw new InvalidArgumentError('repeat', repeat, 'must be an integer 1..2^31-1');
    this.opts.writeInt32LE(repeat, OPTS.repeat);
    const rc = progTestRun(this.progFd, this.opts) as number;
    if (rc < 0) throw testRunError(rc, `live frames: prog fd ${this.progFd}, ${this.frame.length}-byte frame, ingress ifindex ${this.ctx.readUInt32LE(12)}, repeat ${repeat}`);
    return this.opts.readUInt32LE(OPTS.duration);
  }
}

function writeCtx(ctx: Buffer, length: number, ifindex: number, rxQueue: number): void {
  // data = 0 (no metadata) and data_end = the frame's length: the kernel insists on both.
  ctx.fill(0);
  ctx.writeUInt32LE(length, 4);
  ctx.writeUInt32LE(ifindex, 12);
  ctx.writeUInt32LE(rxQueue, 16);
}

function testRunError(rc: number, detail: string): BpfError {
  const hint = rc === -19 ? ' (ENODEV: no such ingress ifindex in this thread\'s network namespace)' : rc === -22 ? ' (EINVAL: ctx or flags refused; live mode needs an ingress ifindex and no output buffers)' : '';
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
    if (result instanceof Promise) throw new XlvsError('E_NETNS_ASYNC', `inNetns(${nsPath}): fn returned a promise; it must be synchronous`);
    return result;
  } finally {
    if (target !== undefined) closeSync(target);
    closeSync(home);
  }
}

/** ifindex of ifname in the namespace at nsPath. */
export function ifindexIn(nsPath: string, ifname: string): number {
  const i = inNetns(nsPath, () => bpfLib.if_nametoindex(ifname) as number);
  if (i === 0) throw new InvalidArgumentError('ifname', ifname, `no such interface in ${nsPath}`);
  return i;
}
