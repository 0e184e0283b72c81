// SPDX-License-Identifier: Apache-2.0
// A NETLINK_ROUTE socket: the one way the daemon changes addresses, neighbours, routes and
// policy rules after start-up (no `ip` child processes). Requests are synchronous: rtnetlink
// handles a request inside send() and queues its answer, and a dump is read until NLMSG_DONE.
//
// Every read is bounded: the socket has a receive timeout (SO_RCVTIMEO, at most 500 ms), and
// an exchange that has not finished by its deadline fails with ETIMEDOUT, so the event loop is
// never held longer than the deadline plus one receive timeout. Answers to an earlier exchange that gave
// up (older sequence numbers) are skipped.
//
// The socket belongs to the network namespace of the thread that opened it and stays there:
// open it inside inNetns() (src/kernel/test-run.ts) to work on another namespace.

import koffi from 'koffi';
import { InvalidArgumentError, NetlinkError } from '../errors.js';
import { errno, libc, sockaddrNl, timeval } from '../kernel/libc.js';
import {
  copyBytes, decodeDone, decodeError, decodeMessages, encodeRequest,
  NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN,
  type Message, type Request,
} from './netlink-codec.js';
import { RTM_NAMES } from './rtnl-codec.js';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SOL_NETLINK = 270;
/** Errors echo only our request's header, not the whole request. */
const NETLINK_CAP_ACK = 10;
/** Errors carry the kernel's explanation ("Nexthop has invalid gateway"). */
const NETLINK_EXT_ACK = 11;
/** Dump requests are checked strictly and their filters (device, table) applied by the kernel. */
const NETLINK_GET_STRICT_CHK = 12;
/** recv() returns a datagram's full length even when it did not fit. */
const MSG_TRUNC = 0x20;

const EINTR = 4;
const EAGAIN = 11;
const EBADF = 9;
const EMSGSIZE = 90;
const ETIMEDOUT = 110;

/** A dump message is at most 32 KiB (the kernel sizes them by our buffer, up to that). */
const RECV_BUFFER = 64 * 1024;
/** The longest one recv() blocks: how far past its deadline an exchange can end. */
const MAX_RECV_WAIT_MS = 500;
/** A dump interrupted by a concurrent change is retried this many times. */
const DUMP_ATTEMPTS = 3;

export const DEFAULT_NETLINK_TIMEOUT_MS = 2000;

export interface NetlinkOptions {
  /** Bound of one exchange (request to ack, or a whole dump). Default 2000 ms. */
  timeoutMs?: number;
}

export class Netlink {
  private fd: number;
  private seq: number;
  private readonly buf = Buffer.alloc(RECV_BUFFER);
  readonly timeoutMs: number;

  private constructor(fd: number, timeoutMs: number) {
    this.fd = fd;
    this.timeoutMs = timeoutMs;
    // Not 0: a stale answer to another socket's sequence would be as likely to match as ours.
    this.seq = (Date.now() & 0x7fffffff) >>> 0;
  }

  /** Opens a socket in the calling thread's network namespace. */
  static open(opts: NetlinkOptions = {}): Netlink {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_NETLINK_TIMEOUT_MS;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000) throw new InvalidArgumentError('timeoutMs', timeoutMs, 'must be an integer 1..60000');
    const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE) as number;
    if (fd < 0) throw new NetlinkError('socket(AF_NETLINK, NETLINK_ROUTE)', errno());
    try {
      const waitMs = Math.min(timeoutMs, MAX_RECV_WAIT_MS);
      const tv = Buffer.alloc(koffi.sizeof(timeval));
      koffi.encode(tv, 0, timeval, { tv_sec: Math.floor(waitMs / 1000), tv_usec: (waitMs % 1000) * 1000 });
      setOption(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 'SO_RCVTIMEO');
      for (const [opt, name] of [[NETLINK_CAP_ACK, 'NETLINK_CAP_ACK'], [NETLINK_EXT_ACK, 'NETLINK_EXT_ACK'], [NETLINK_GET_STRICT_CHK, 'NETLINK_GET_STRICT_CHK']] as const) {
        const one = Buffer.alloc(4);
        one.writeInt32LE(1);
        setOption(fd, SOL_NETLINK, opt, one, name);
      }
      const sa = Buffer.alloc(koffi.sizeof(sockaddrNl));
      koffi.encode(sa, 0, sockaddrNl, { nl_family: AF_NETLINK, nl_pad: 0, nl_pid: 0, nl_groups: 0 });
      if ((libc.bind(fd, sa, sa.length) as number) < 0) throw new NetlinkError('bind(AF_NETLINK)', errno());
    } catch (e) {
      libc.close(fd);
      throw e;
    }
    return new Netlink(fd, timeoutMs);
  }

  /** A change (NEW/DEL): returns once the kernel acknowledged it; throws NetlinkError otherwise. */
  change(req: Request): void {
    this.exchange(req, NLM_F_ACK);
  }

  /** A GET of one object (a route lookup, a link by name): the answer's messages. */
  get(req: Request): Message[] {
    return this.exchange(req, NLM_F_ACK);
  }

  /** A dump: every message up to NLMSG_DONE. Retried when a concurrent change interrupted it. */
  dump(req: Request): Message[] {
    for (let attempt = 1; ; attempt++) {
      const messages = this.exchange(req, NLM_F_DUMP);
      if (!messages.some((m) => (m.flags & NLM_F_DUMP_INTR) !== 0)) return messages;
      if (attempt === DUMP_ATTEMPTS) throw new NetlinkError(describe(req), EINTR, `the dump was interrupted by concurrent changes ${DUMP_ATTEMPTS} times`);
    }
  }

  close(): void {
    if (this.fd < 0) return;
    libc.close(this.fd);
    this.fd = -1;
  }

  /**
   * Sends one request and reads the answers carrying its sequence number until the one that
   * ends it: NLMSG_ERROR (an ack when its errno is 0) or, for a dump, NLMSG_DONE.
   */
  private exchange(req: Request, extraFlags: number): Message[] {
    const what = describe(req);
    if (this.fd < 0) throw new NetlinkError(what, EBADF, 'the netlink socket is closed');
    this.seq = (this.seq + 1) >>> 0;
    const seq = this.seq;
    const bytes = encodeRequest({ ...req, flags: req.flags | NLM_F_REQUEST | extraFlags }, seq);
    const sent = libc.send(this.fd, bytes, bytes.length, 0) as number;
    if (sent < 0) throw new NetlinkError(what, errno(), 'send');
    const deadline = Date.now() + this.timeoutMs;
    const answer: Message[] = [];
    for (;;) {
      for (const m of this.receive(what, deadline)) {
        if (m.seq !== seq || m.type === NLMSG_NOOP) continue;
        if (m.type === NLMSG_ERROR) {
          const e = decodeError(m);
          if (e.errno !== 0) throw new NetlinkError(what, e.errno, e.kernelMessage);
          return answer;
        }
        if (m.type === NLMSG_DONE) {
          const e = decodeDone(m);
          if (e.errno !== 0) throw new NetlinkError(what, e.errno, e.kernelMessage);
          return answer;
        }
        if (m.type === NLMSG_OVERRUN) throw new NetlinkError(what, EMSGSIZE, 'the kernel reported an overrun');
        answer.push(m);
      }
    }
  }

  /** One datagram's messages; throws ETIMEDOUT past the deadline, EMSGSIZE if one did not fit. */
  private receive(what: string, deadline: number): Message[] {
    for (;;) {
      if (Date.now() > deadline) throw new NetlinkError(what, ETIMEDOUT, `no complete answer within ${this.timeoutMs} ms`);
      const n = libc.recv(this.fd, this.buf, this.buf.length, MSG_TRUNC) as number;
      if (n < 0) {
        const e = errno();
        // EAGAIN: the receive timeout passed; EINTR: a signal. Both: check the deadline, read again.
        if (e === EAGAIN || e === EINTR) continue;
        throw new NetlinkError(what, e, 'recv');
      }
      if (n > this.buf.length) throw new NetlinkError(what, EMSGSIZE, `an answer of ${n} bytes exceeds the ${this.buf.length}-byte buffer`);
      // Copied: the buffer is reused by the next recv while callers may keep the messages.
      return decodeMessages(copyBytes(this.buf.subarray(0, n)));
    }
  }
}

function setOption(fd: number, level: number, opt: number, value: Buffer, name: string): void {
  if ((libc.setsockopt(fd, level, opt, value, value.length) as number) < 0) throw new NetlinkError(`setsockopt(${name})`, errno());
}

/** "ip route get 10.0.0.1 (RTM_GETROUTE)": the request in ip(8)'s words and its message type. */
function describe(req: Request): string {
  return `${req.what} (${RTM_NAMES[req.type] ?? `netlink type ${req.type}`})`;
}
