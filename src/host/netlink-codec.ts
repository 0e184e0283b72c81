// SPDX-License-Identifier: Apache-2.0
// Netlink framing (linux/netlink.h), pure: a message is an nlmsghdr, a family header and
// attributes, each padded to 4 bytes. Requests are built here and replies cut into messages
// and attributes; src/host/netlink.ts moves the bytes. Layouts are koffi structs, so every size
// and offset comes from the struct, and values are in host byte order, as netlink wants them.

import koffi, { type TypeObject } from 'koffi';
import { NetlinkError } from '../errors.js';

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
/** The dump was interrupted by a change: its contents may be inconsistent. */
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
/** On an NLMSG_ERROR: the request is echoed as its header only (NETLINK_CAP_ACK). */
export const NLM_F_CAPPED = 0x100;
/** On an NLMSG_ERROR: extended-ack attributes follow (NETLINK_EXT_ACK). */
export const NLM_F_ACK_TLVS = 0x200;

/** Extended-ack attributes: the kernel's own words, and where in our request it choked. */
const NLMSGERR_ATTR_MSG = 1;
const NLMSGERR_ATTR_OFFS = 2;

const NLA_TYPE_MASK = 0x3fff; // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
export const NLA_F_NESTED = 0x8000;

/** EBADMSG: what a reply that does not parse is reported as. */
const EBADMSG = 74;

export const nlmsghdr = koffi.struct('xlvs_nlmsghdr', {
  nlmsg_len: 'uint32_t', nlmsg_type: 'uint16_t', nlmsg_flags: 'uint16_t', nlmsg_seq: 'uint32_t', nlmsg_pid: 'uint32_t',
});
const nlattr = koffi.struct('xlvs_nlattr', { nla_len: 'uint16_t', nla_type: 'uint16_t' });
const nlmsgerr = koffi.struct('xlvs_nlmsgerr', { error: 'int32_t', msg: nlmsghdr });
const NLMSG_HDRLEN = koffi.sizeof(nlmsghdr);
const NLA_HDRLEN = koffi.sizeof(nlattr);
const NLMSGERR_MSG = koffi.offsetof(nlmsgerr, 'msg');

export const align4 = (n: number): number => (n + 3) & ~3;

/** One attribute: bytes, or nested attributes. */
export interface Attr {
  type: number;
  value: Buffer | Attr[];
}

export const attr = {
  bytes: (type: number, value: Buffer): Attr => ({ type, value }),
  u8: (type: number, n: number): Attr => ({ type, value: Buffer.from([n]) }),
  u32: (type: number, n: number): Attr => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n >>> 0);
    return { type, value: b };
  },
  /** A C string: NUL-terminated, as the kernel's NLA_STRING/NLA_NUL_STRING policies take it. */
  str: (type: number, s: string): Attr => ({ type, value: Buffer.from(`${s}\0`) }),
  nested: (type: number, attrs: Attr[]): Attr => ({ type: type | NLA_F_NESTED, value: attrs }),
};

/** A request before it has a sequence number; `what` names it (ip(8)'s words) in errors. */
export interface Request {
  what: string;
  type: number;
  flags: number;
  /** The family header (ndmsg, rtmsg, ...), already encoded. */
  header: Buffer;
  attrs?: Attr[];
}

/** A received message: its header fields and the bytes after the header. */
export interface Message {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Buffer;
}

/** A struct's bytes (a koffi struct type, values in host order). */
export function encodeStruct(type: TypeObject, value: Record<string, unknown>): Buffer {
  const b = Buffer.alloc(koffi.sizeof(type));
  koffi.encode(b, 0, type, value);
  return b;
}

/** Reads a struct at `offset`; throws when the bytes are too short for it. */
export function decodeStruct<T>(type: TypeObject, buf: Buffer, offset = 0, what = 'struct'): T {
  if (offset + koffi.sizeof(type) > buf.length) throw badReply(`${what}: ${buf.length - offset} bytes, needs ${koffi.sizeof(type)}`);
  return koffi.decode(buf, offset, type) as T;
}

function attrsLength(attrs: Attr[]): number {
  return attrs.reduce((n, a) => n + align4(NLA_HDRLEN + (Buffer.isBuffer(a.value) ? a.value.length : attrsLength(a.value))), 0);
}

function writeAttrs(buf: Buffer, offset: number, attrs: Attr[]): number {
  for (const a of attrs) {
    const start = offset;
    offset += NLA_HDRLEN;
    if (Buffer.isBuffer(a.value)) {
      buf.set(a.value, offset);
      offset += a.value.length;
    } else {
      offset = writeAttrs(buf, offset, a.value);
    }
    koffi.encode(buf, start, nlattr, { nla_len: offset - start, nla_type: a.type });
    offset = align4(offset);
  }
  return offset;
}

/** The bytes of one request: header, family header, attributes; padding bytes are zero. */
export function encodeRequest(req: Request, seq: number): Buffer {
  const attrs = req.attrs ?? [];
  const len = NLMSG_HDRLEN + align4(req.header.length) + attrsLength(attrs);
  const buf = Buffer.alloc(len);
  koffi.encode(buf, 0, nlmsghdr, { nlmsg_len: len, nlmsg_type: req.type, nlmsg_flags: req.flags, nlmsg_seq: seq >>> 0, nlmsg_pid: 0 });
  buf.set(req.header, NLMSG_HDRLEN);
  writeAttrs(buf, NLMSG_HDRLEN + align4(req.header.length), attrs);
  return buf;
}

/** Cuts a datagram into its messages; a length that does not fit the datagram is refused. */
export function decodeMessages(buf: Buffer): Message[] {
  const out: Message[] = [];
  let offset = 0;
  while (offset + NLMSG_HDRLEN <= buf.length) {
    const h = decodeStruct<{ nlmsg_len: number; nlmsg_type: number; nlmsg_flags: number; nlmsg_seq: number; nlmsg_pid: number }>(nlmsghdr, buf, offset);
    if (h.nlmsg_len < NLMSG_HDRLEN || offset + h.nlmsg_len > buf.length) {
      throw badReply(`message at byte ${offset} claims ${h.nlmsg_len} bytes of ${buf.length - offset}`);
    }
    out.push({ type: h.nlmsg_type, flags: h.nlmsg_flags, seq: h.nlmsg_seq, pid: h.nlmsg_pid, payload: buf.subarray(offset + NLMSG_HDRLEN, offset + h.nlmsg_len) });
    offset += align4(h.nlmsg_len);
  }
  return out;
}

/** Attributes from `offset` to the end: type → value (the last of a repeated type wins). */
export function decodeAttrs(buf: Buffer, offset = 0): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  while (offset + NLA_HDRLEN <= buf.length) {
    const a = decodeStruct<{ nla_len: number; nla_type: number }>(nlattr, buf, offset);
    if (a.nla_len < NLA_HDRLEN || offset + a.nla_len > buf.length) {
      throw badReply(`attribute at byte ${offset} claims ${a.nla_len} bytes of ${buf.length - offset}`);
    }
    out.set(a.nla_type & NLA_TYPE_MASK, buf.subarray(offset + NLA_HDRLEN, offset + a.nla_len));
    offset += align4(a.nla_len);
  }
  return out;
}

/** The attributes after a family header of `headerSize` bytes. */
export const attrsAfter = (payload: Buffer, headerSize: number): Map<number, Buffer> => decodeAttrs(payload, align4(headerSize));

/** What an NLMSG_ERROR (or a dump's NLMSG_DONE) says: errno (0: an ack) and the kernel's words. */
export interface ErrorReply {
  errno: number;
  kernelMessage: string;
  /** Byte offset in our request of the attribute the kernel refused, when it says. */
  offset?: number;
}

/** Reads an NLMSG_ERROR: the negative errno, the echoed request (capped or not), ext-ack TLVs. */
export function decodeError(m: Message): ErrorReply {
  const error = decodeStruct<{ error: number }>(nlmsgerr, m.payload, 0, 'nlmsgerr').error;
  let tlvStart = koffi.sizeof(nlmsgerr);
  if ((m.flags & NLM_F_CAPPED) === 0 && error !== 0) {
    // Not capped: the whole request is echoed; the TLVs follow it.
    const echoed = decodeStruct<{ nlmsg_len: number }>(nlmsghdr, m.payload, NLMSGERR_MSG, 'echoed request').nlmsg_len;
    tlvStart = NLMSGERR_MSG + align4(echoed);
  }
  return { errno: error === 0 ? 0 : -error, ...extAck(m, tlvStart) };
}

/** Reads an NLMSG_DONE: its int is 0, or the negative errno that ended the dump early. */
export function decodeDone(m: Message): ErrorReply {
  if (m.payload.length < 4) return { errno: 0, kernelMessage: '' };
  const error = m.payload.readInt32LE(0);
  return { errno: error === 0 ? 0 : -error, ...extAck(m, 4) };
}

function extAck(m: Message, tlvStart: number): { kernelMessage: string; offset?: number } {
  if ((m.flags & NLM_F_ACK_TLVS) === 0 || tlvStart >= m.payload.length) return { kernelMessage: '' };
  const tlvs = decodeAttrs(m.payload, tlvStart);
  const msg = tlvs.get(NLMSGERR_ATTR_MSG);
  const offs = tlvs.get(NLMSGERR_ATTR_OFFS);
  return {
    kernelMessage: msg === undefined ? '' : cString(msg),
    ...(offs !== undefined && offs.length >= 4 ? { offset: offs.readUInt32LE(0) } : {}),
  };
}

/** A C string attribute's text (up to its NUL). */
export function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
}

/** A copy that outlives the buffer it came from (Buffer.from(buffer) does not type-check here). */
export function copyBytes(b: Buffer): Buffer {
  const c = Buffer.alloc(b.length);
  c.set(b);
  return c;
}

export function u32Of(b: Buffer | undefined): number | undefined {
  return b !== undefined && b.length >= 4 ? b.readUInt32LE(0) : undefined;
}

export function u8Of(b: Buffer | undefined): number | undefined {
  return b !== undefined && b.length >= 1 ? b[0] : undefined;
}

function badReply(detail: string): NetlinkError {
  return new NetlinkError('netlink reply', EBADMSG, detail);
}
