// SPDX-License-Identifier: Apache-2.0
// The libc entry points xlvs uses, bound through koffi: file descriptors, sockets (AF_PACKET
// raw frames, netlink), mmap of BPF maps, mount of bpffs. libc calls return -1 and set errno.

import koffi from 'koffi';
import { BpfError } from '../errors.js';

const c = koffi.load('libc.so.6');

export const libc = {
  close: c.func('int close(int fd)'),
  if_nametoindex: c.func('uint32_t if_nametoindex(const char *name)'),
  mount: c.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, void *data)'),
  setsockopt: c.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
  socket: c.func('int socket(int domain, int type, int protocol)'),
  bind: c.func('int bind(int fd, const void *addr, uint32_t len)'),
  sendmmsg: c.func('int sendmmsg(int fd, void *msgvec, unsigned int vlen, int flags)'),
  mmap: c.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)'),
  munmap: c.func('int munmap(void *addr, size_t len)'),
  getpagesize: c.func('int getpagesize()'),
  setns: c.func('int setns(int fd, int nstype)'),
  // The pin dir's owner lock (src/kernel/pin-dir-lock.ts): held by the open file, so it dies with the process.
  flock: c.func('int flock(int fd, int operation)'),
  // Netlink (src/host/netlink.ts): requests go to the kernel, the socket's default peer.
  send: c.func('intptr_t send(int fd, const void *buf, size_t len, int flags)'),
  recv: c.func('intptr_t recv(int fd, void *buf, size_t len, int flags)'),
};

/** struct sockaddr_nl (linux/netlink.h): nl_pid 0 asks the kernel to pick the port id. */
export const sockaddrNl = koffi.struct('xlvs_sockaddr_nl', { nl_family: 'uint16_t', nl_pad: 'uint16_t', nl_pid: 'uint32_t', nl_groups: 'uint32_t' });
/** struct timeval, as SO_RCVTIMEO takes it (time_t and suseconds_t are the platform's long on LP64 Linux). */
export const timeval = koffi.struct('xlvs_timeval', { tv_sec: 'long', tv_usec: 'long' });

export function errno(): number {
  return koffi.errno();
}

/** Throws BpfError (op and errno) for a libc result < 0; returns it otherwise. */
export function checkLibc(op: string, rc: number, detail = ''): number {
  if (rc < 0) throw new BpfError(op, errno(), detail);
  return rc;
}
