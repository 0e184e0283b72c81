// SPDX-License-Identifier: Apache-2.0
// A consumer of a BPF_MAP_TYPE_RINGBUF map: the data plane's records (the connection sync's
// flow updates) read from memory shared with the kernel, without a system call per record or
// per call. The map is mapped as libbpf maps it: the consumer position's page read-write (the
// only page the kernel lets user space write), then the producer position's page and the data
// area, mapped twice, read-only. ringbuf-records.ts walks the records.
//
// One consumer per ring: the consumer position is ours alone (the kernel has no lock for it).
// The mappings hold the map; the caller's fd may be closed after open().

import koffi from 'koffi';
import { BpfError, InvalidArgumentError, RingBufClosedError, RingBufTypeError } from '../errors.js';
import { checkLibc, errno, libc } from './libc.js';
import { mapInfoOf } from './obj-info.js';
import { walkRecords, walkRecordsRaw, type RawRecordHandler, type RecordHandler, type RingMemory } from './ringbuf-records.js';

export { type RawRecordHandler, type RecordHandler } from './ringbuf-records.js';

/** enum bpf_map_type of linux/bpf.h. */
export const BPF_MAP_TYPE_RINGBUF = 27;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MAP_FAILED = 0xffffffffffffffffn;
/** Records one consume() hands over unless told otherwise: a bound on one turn of the event loop. */
export const DEFAULT_CONSUME_MAX = 1024;

interface Mapping {
  ptr: bigint;
  length: number;
}

function mapShared(what: string, fd: number, length: number, prot: number, offset: number): Mapping {
  const p = libc.mmap(null, length, prot, MAP_SHARED, fd, BigInt(offset)) as bigint;
  if (p === MAP_FAILED || p === 0n) throw new BpfError(`mmap ${what}`, errno(), `${length} bytes at offset ${offset}`);
  return { ptr: p, length };
}

export class RingBuf {
  private counts = { delivered: 0, discarded: 0 };
  private mem: RingMemory | undefined;
  private area: Buffer | undefined;

  private constructor(
    readonly name: string,
    /** The data area's size in bytes (the map's max_entries). */
    readonly size: number,
    private readonly maps: Mapping[],
    mem: RingMemory,
  ) {
    this.mem = mem;
  }

  /** Maps the ring buffer map `fd`; refuses any other kind of map (RingBufTypeError). */
  static open(fd: number): RingBuf {
    if (!Number.isInteger(fd) || fd < 0) throw new InvalidArgumentError('fd', fd, 'must be a file descriptor');
    const info = mapInfoOf(fd, `map info of fd ${fd}`);
    if (info.type !== BPF_MAP_TYPE_RINGBUF) throw new RingBufTypeError(fd, info.name, info.type);
    const page = libc.getpagesize() as number;
    const size = info.max_entries;
    const consumer = mapShared(`ring buffer ${info.name} consumer page`, fd, page, PROT_READ | PROT_WRITE, 0);
    let producer: Mapping;
    try {
      producer = mapShared(`ring buffer ${info.name} producer page and data`, fd, page + 2 * size, PROT_READ, page);
    } catch (e) {
      libc.munmap(consumer.ptr, consumer.length);
      throw e;
    }
    const data = koffi.view(producer.ptr + BigInt(page), 2 * size) as ArrayBuffer;
    const mem: RingMemory = {
      name: info.name,
      consumerPos: new BigUint64Array(koffi.view(consumer.ptr, 8) as ArrayBuffer),
      producerPos: new BigUint64Array(koffi.view(producer.ptr, 8) as ArrayBuffer),
      data,
      words: new Uint32Array(data),
      mask: BigInt(size - 1),
    };
    return new RingBuf(info.name, size, [consumer, producer], mem);
  }

  private memory(): RingMemory {
    if (!this.mem) throw new RingBufClosedError(this.name);
    return this.mem;
  }

  /**
   * Hands each committed record, in order, to handler (a view valid during the call only) and
   * returns how many it handed: at most `max`, of those written when the call began. Stops early
   * at a record the producer still writes; a later call takes it.
   */
  consume(handler: RecordHandler, max = DEFAULT_CONSUME_MAX): number {
    const r = walkRecords(this.memory(), handler, max);
    this.counts.delivered += r.delivered;
    this.counts.discarded += r.discarded;
    return r.delivered;
  }

  /** consume() without a Buffer per record (ringbuf-records.ts walkRecordsRaw): handler(area, offset, len). */
  consumeRaw(handler: RawRecordHandler, max = DEFAULT_CONSUME_MAX): number {
    const m = this.memory();
    this.area ??= Buffer.from(m.data);
    const r = walkRecordsRaw(m, this.area, handler, max);
    this.counts.delivered += r.delivered;
    this.counts.discarded += r.discarded;
    return r.delivered;
  }

  /** Records handed to a handler since open(). */
  get delivered(): number {
    return this.counts.delivered;
  }

  /** Discarded records skipped since open() (the producer reserved them, then gave them up). */
  get discarded(): number {
    return this.counts.discarded;
  }

  /** Bytes written and not yet consumed (records, headers and padding). */
  pending(): number {
    const m = this.memory();
    return Number(Atomics.load(m.producerPos, 0) - Atomics.load(m.consumerPos, 0));
  }

  /** Bytes consumed since the map was created: where the next record starts, before the mask. */
  consumerPosition(): bigint {
    return Atomics.load(this.memory().consumerPos, 0);
  }

  /** Unmaps the ring; the views handed out must be gone (they were only valid during a call). */
  close(): void {
    if (!this.mem) return;
    this.mem = undefined;
    this.area = undefined;
    for (const m of this.maps) checkLibc(`munmap ring buffer ${this.name}`, libc.munmap(m.ptr, m.length) as number);
  }
}
