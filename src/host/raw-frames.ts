// SPDX-License-Identifier: Apache-2.0
// The one way the daemon puts frames of its own on a wire: an AF_PACKET socket bound to one
// interface, sending whole Ethernet frames in batches with one sendmmsg() each. Health probes'
// SYNs use it now; gratuitous ARP and unsolicited NA will. It needs nothing of BPF, so it works
// on every kernel, also those that refuse BPF_F_TEST_XDP_LIVE_FRAMES.
//
//  - PACKET_QDISC_BYPASS: frames go straight to the driver (no qdisc, no taps on this host): a
//    full device queue is an error for that frame (ENOBUFS), reported, never a silent wait.
//  - Bound with protocol 0, the socket receives nothing: no copy of every frame on the link.
//  - The frames live in one buffer of `batch` fixed-size slots the caller fills in place (the
//    probes' frames are written there by the kernel, as BPF_PROG_TEST_RUN's data_out); the
//    mmsghdr/iovec array pointing into it is built once.
//
// The socket is created in the calling thread's network namespace and stays there.

import koffi from 'koffi';
import { BpfError, InvalidArgumentError } from '../errors.js';
import { checkLibc, errno, lib } from '../kernel/libbpf.js';
import { libc } from '../kernel/libc.js';

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_PACKET = 263;
const PACKET_QDISC_BYPASS = 20;
export const EAGAIN = 11;
export const ENOBUFS = 105;
const ETH_HLEN = 14;

const iovec = koffi.struct('xlvs_iovec', { iov_base: 'void *', iov_len: 'size_t' });
const msghdr = koffi.struct('xlvs_msghdr', {
  msg_name: 'void *', msg_namelen: 'uint32_t', msg_iov: 'void *', msg_iovlen: 'size_t',
  msg_control: 'void *', msg_controllen: 'size_t', msg_flags: 'int',
});
const mmsghdr = koffi.struct('xlvs_mmsghdr', { msg_hdr: msghdr, msg_len: 'uint32_t' });
const sockaddrLl = koffi.struct('xlvs_sockaddr_ll', {
  sll_family: 'uint16_t', sll_protocol: 'uint16_t', sll_ifindex: 'int32_t', sll_hatype: 'uint16_t',
  sll_pkttype: 'uint8_t', sll_halen: 'uint8_t', sll_addr: koffi.array('uint8_t', 8),
});
const IOV_SIZE = koffi.sizeof(iovec);
const IOV_LEN = koffi.offsetof(iovec, 'iov_len');
const MMSG_SIZE = koffi.sizeof(mmsghdr);
const MSG = {
  iov: koffi.offsetof(msghdr, 'msg_iov'),
  iovlen: koffi.offsetof(msghdr, 'msg_iovlen'),
};

export interface RawFramesOptions {
  /** The interface (in the calling thread's namespace) the frames leave by. */
  ifindex: number;
  /** Frames per sendmmsg() at most (default 256: a veth's ring). */
  batch?: number;
  /** Bytes a frame may have at most (default 256). */
  frameMax?: number;
}

/** What one send() did: frames sent, and the errno that stopped the rest (0: none). */
export interface SendResult {
  sent: number;
  errno: number;
}

export class RawFrames {
  readonly ifindex: number;
  readonly batch: number;
  readonly frameMax: number;
  /** The frame slots: slot i is [i * frameMax, (i + 1) * frameMax). */
  readonly frames: Buffer;
  private readonly msgs: Buffer;
  private readonly iovs: Buffer;
  private readonly framesAddr: bigint;
  private fd: number;

  /** Opens the socket; throws BpfError naming the step the kernel refused. */
  constructor(o: RawFramesOptions) {
    if (!Number.isInteger(o.ifindex) || o.ifindex < 1) throw new InvalidArgumentError('ifindex', o.ifindex, 'must be an interface index >= 1');
    this.ifindex = o.ifindex;
    this.batch = o.batch ?? 256;
    this.frameMax = o.frameMax ?? 256;
    if (!Number.isInteger(this.batch) || this.batch < 1 || this.batch > 1024) throw new InvalidArgumentError('batch', this.batch, 'must be an integer 1..1024');
    if (!Number.isInteger(this.frameMax) || this.frameMax < ETH_HLEN || this.frameMax > 9216) throw new InvalidArgumentError('frameMax', this.frameMax, `must be an integer ${ETH_HLEN}..9216`);
    this.frames = Buffer.alloc(this.batch * this.frameMax);
    this.iovs = Buffer.alloc(this.batch * IOV_SIZE);
    this.msgs = Buffer.alloc(this.batch * MMSG_SIZE);
    this.framesAddr = BigInt(koffi.address(this.frames));
    const iovsAddr = BigInt(koffi.address(this.iovs));
    for (let i = 0; i < this.batch; i++) {
      this.iovs.writeBigUInt64LE(this.framesAddr + BigInt(i * this.frameMax), i * IOV_SIZE);
      this.msgs.writeBigUInt64LE(iovsAddr + BigInt(i * IOV_SIZE), i * MMSG_SIZE + MSG.iov);
      this.msgs.writeBigUInt64LE(1n, i * MMSG_SIZE + MSG.iovlen);
    }
    this.fd = checkLibc('socket(AF_PACKET, SOCK_RAW)', libc.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) as number, 'needs CAP_NET_RAW');
    try {
      const one = Buffer.alloc(4);
      one.writeInt32LE(1);
      checkLibc('setsockopt(PACKET_QDISC_BYPASS)', libc.setsockopt(this.fd, SOL_PACKET, PACKET_QDISC_BYPASS, one, 4) as number);
      // Protocol 0: bound to the interface for sending, subscribed to no frames.
      const sll = Buffer.alloc(koffi.sizeof(sockaddrLl));
      koffi.encode(sll, sockaddrLl, { sll_family: AF_PACKET, sll_protocol: 0, sll_ifindex: this.ifindex, sll_hatype: 0, sll_pkttype: 0, sll_halen: 0, sll_addr: [0, 0, 0, 0, 0, 0, 0, 0] });
      checkLibc('bind(AF_PACKET)', libc.bind(this.fd, sll, sll.length) as number, `ifindex ${this.ifindex}`);
    } catch (e) {
      libc.close(this.fd);
      this.fd = -1;
      throw e;
    }
  }

  /** The address of slot i, for a kernel call that writes the frame there. */
  slotAddress(i: number): bigint {
    return this.framesAddr + BigInt(i * this.frameMax);
  }

  /** The bytes of slot i (a view, valid until the next send). */
  slot(i: number): Buffer {
    return this.frames.subarray(i * this.frameMax, (i + 1) * this.frameMax);
  }

  /**
   * Sends slots 0..lengths.length-1, each of lengths[i] bytes, with one sendmmsg(). Frames
   * that the device took are `sent`; the first one refused stops the batch and its errno is
   * returned (EAGAIN or ENOBUFS: the device's queue is full; try the rest later).
   */
  send(lengths: ArrayLike<number>): SendResult {
    const n = lengths.length;
    if (this.fd < 0) throw new BpfError('sendmmsg', 9 /* EBADF */, 'the raw-frame socket is closed');
    if (n === 0) return { sent: 0, errno: 0 };
    if (n > this.batch) throw new InvalidArgumentError('frames', n, `must be at most ${this.batch} per send`);
    for (let i = 0; i < n; i++) {
      const len = lengths[i]!;
      if (!Number.isInteger(len) || len < ETH_HLEN || len > this.frameMax) throw new InvalidArgumentError(`lengths[${i}]`, len, `must be an integer ${ETH_HLEN}..${this.frameMax}`);
      this.iovs.writeBigUInt64LE(BigInt(len), i * IOV_SIZE + IOV_LEN);
    }
    // sendmmsg stops at the first frame refused and returns the count before it (the error is
    // returned only when nothing went): the rest is offered once more to learn that error.
    let sent = 0;
    while (sent < n) {
      const rc = libc.sendmmsg(this.fd, sent === 0 ? this.msgs : this.msgs.subarray(sent * MMSG_SIZE), n - sent, 0) as number;
      if (rc <= 0) return { sent, errno: rc < 0 ? errno() : ENOBUFS };
      sent += rc;
    }
    return { sent, errno: 0 };
  }

  /** Copies each frame into a slot and sends them (announcements: a few frames at a time). */
  sendFrames(list: readonly Buffer[]): SendResult {
    if (list.length > this.batch) throw new InvalidArgumentError('frames', list.length, `must be at most ${this.batch} per send`);
    list.forEach((f, i) => {
      if (f.length > this.frameMax) throw new InvalidArgumentError(`frames[${i}].length`, f.length, `must be at most ${this.frameMax}`);
      this.frames.set(f, i * this.frameMax);
    });
    return this.send(list.map((f) => f.length));
  }

  close(): void {
    if (this.fd < 0) return;
    libc.close(this.fd);
    this.fd = -1;
  }
}
