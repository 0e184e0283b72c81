// SPDX-License-Identifier: Apache-2.0
// A BPF array map created with BPF_F_MMAPABLE, mapped into this process: its values are plain
// memory shared with the XDP programs, read and written without a system call. Used by the
// health probes' slots (bpf/probe.h), which the daemon touches thousands of times a second.
//
// The mapping lives until unmap(); the ArrayBuffer over it must not be used after that (koffi's
// view does not own the memory), so MappedMap hands out views only through itself.

import koffi from 'koffi';
import { BpfError, InvalidArgumentError } from '../errors.js';
import { checkLibc, errno, lib } from './libbpf.js';
import { libc } from './libc.js';

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MAP_FAILED = 0xffffffffffffffffn;
const PAGE = 4096;

export class MappedMap {
  private ptr: bigint | undefined;
  private buffer: ArrayBuffer | undefined;
  /** Bytes mapped: the values, each rounded up to 8 bytes, rounded up to a page. */
  readonly length: number;

  /** Maps `entries` values of `valueSize` bytes of the array map `fd` (the kernel's layout). */
  constructor(readonly name: string, fd: number, valueSize: number, entries: number) {
    if (!Number.isInteger(fd) || fd < 0) throw new InvalidArgumentError('fd', fd, 'must be a file descriptor');
    const stride = Math.ceil(valueSize / 8) * 8;
    this.length = Math.ceil((stride * entries) / PAGE) * PAGE;
    const p = libc.mmap(null, this.length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0n) as bigint;
    if (p === MAP_FAILED || p === 0n) throw new BpfError(`mmap map ${name}`, errno(), `${this.length} bytes (is it an array map with BPF_F_MMAPABLE?)`);
    this.ptr = p;
    this.buffer = koffi.view(p, this.length) as ArrayBuffer;
  }

  /** The mapped bytes. Throws once unmapped. */
  get bytes(): ArrayBuffer {
    if (!this.buffer) throw new BpfError(`map ${this.name}`, 9, 'is no longer mapped');
    return this.buffer;
  }

  unmap(): void {
    if (this.ptr === undefined) return;
    checkLibc(`munmap ${this.name}`, libc.munmap(this.ptr, this.length) as number);
    this.ptr = undefined;
    this.buffer = undefined;
  }
}
