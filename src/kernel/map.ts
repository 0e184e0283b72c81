// SPDX-License-Identifier: Apache-2.0
// Typed access to one BPF map by fd. Keys and values go through codecs; for
// per-CPU maps a value is one entry per possible CPU (PerCpuMap).

import { BpfError, InvalidArgumentError } from '../errors.js';
import type { Codec } from './codec.js';
import { lib, check, BPF_ANY } from './libbpf.js';

const ENOENT = 2;
const ENOSPC = 28;

abstract class MapBase<K, V> {
  protected readonly kbuf: Buffer;
  protected readonly vbuf: Buffer;

  constructor(
    readonly name: string,
    readonly fd: number,
    protected readonly key: Codec<K>,
    protected readonly slot: number, // bytes of one value as the syscall sees it
  ) {
    this.kbuf = Buffer.alloc(key.size);
    this.vbuf = Buffer.alloc(slot);
  }

  protected abstract encodeValue(v: V, b: Buffer, off: number): void;
  protected abstract decodeValue(b: Buffer, off: number): V;

  lookup(k: K): V | undefined {
    this.key.encode(k, this.kbuf, 0);
    const rc = lib.map_lookup_elem(this.fd, this.kbuf, this.vbuf);
    if (rc === -ENOENT) return undefined;
    check(`lookup ${this.name}`, rc);
    return this.decodeValue(this.vbuf, 0);
  }

  update(k: K, v: V, flags = BPF_ANY): void {
    this.key.encode(k, this.kbuf, 0);
    this.encodeValue(v, this.vbuf, 0);
    check(`update ${this.name}`, lib.map_update_elem(this.fd, this.kbuf, this.vbuf, flags));
  }

  /** Returns false when the key was not there. */
  delete(k: K): boolean {
    this.key.encode(k, this.kbuf, 0);
    const rc = lib.map_delete_elem(this.fd, this.kbuf);
    if (rc === -ENOENT) return false;
    check(`delete ${this.name}`, rc);
    return true;
  }

  /** Writes many entries in one syscall (all or, on error, a reported prefix). */
  updateBatch(entries: [K, V][]): void {
    if (entries.length === 0) return;
    const { keys, vals, count } = this.encodeBatch(entries);
    const rc = lib.map_update_batch(this.fd, keys, vals, count, null);
    if (rc < 0) throw new BpfError(`update_batch ${this.name}`, -rc, `${count.readUInt32LE()} of ${entries.length} written`);
  }

  /**
   * updateBatch on libuv's thread pool: for a map-of-maps, whose update waits for an RCU grace
   * period in the kernel, so the event loop does not wait with it. The caller must not change
   * the same keys meanwhile.
   */
  updateBatchAsync(entries: [K, V][]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    const { keys, vals, count } = this.encodeBatch(entries);
    return new Promise((resolve, reject) => {
      // The buffers stay referenced by this closure until the call is done.
      lib.map_update_batch.async(this.fd, keys, vals, count, null, (err: unknown, rc: number) => {
        if (err) reject(err);
        else if (rc < 0) reject(new BpfError(`update_batch ${this.name}`, -rc, `${count.readUInt32LE()} of ${entries.length} written`));
        else resolve();
      });
    });
  }

  private encodeBatch(entries: [K, V][]): { keys: Buffer; vals: Buffer; count: Buffer } {
    const keys = Buffer.alloc(this.key.size * entries.length);
    const vals = Buffer.alloc(this.slot * entries.length);
    entries.forEach(([k, v], i) => {
      this.key.encode(k, keys, i * this.key.size);
      this.encodeValue(v, vals, i * this.slot);
    });
    const count = Buffer.alloc(4);
    count.writeUInt32LE(entries.length);
    return { keys, vals, count };
  }

  /** Every entry, read in batches of `chunk` (one syscall each). Safe against concurrent updates:
   * entries added meanwhile may or may not be seen, none is seen twice. */
  *entries(chunk = 4096): Generator<[K, V]> {
    const inBatch = Buffer.alloc(Math.max(8, this.key.size));
    const outBatch = Buffer.alloc(Math.max(8, this.key.size));
    const count = Buffer.alloc(4);
    let keys = Buffer.alloc(this.key.size * chunk);
    let vals = Buffer.alloc(this.slot * chunk);
    let first = true;
    for (;;) {
      count.writeUInt32LE(chunk);
      const rc = lib.map_lookup_batch(this.fd, first ? null : inBatch, outBatch, keys, vals, count, null);
      if (rc === -ENOSPC) {
        // A hash bucket holds more entries than one batch: the kernel wants a bigger one.
        chunk *= 2;
        keys = Buffer.alloc(this.key.size * chunk);
        vals = Buffer.alloc(this.slot * chunk);
        continue;
      }
      if (rc < 0 && rc !== -ENOENT) check(`lookup_batch ${this.name}`, rc);
      const n = count.readUInt32LE();
      for (let i = 0; i < n; i++) {
        yield [this.key.decode(keys, i * this.key.size), this.decodeValue(vals, i * this.slot)];
      }
      if (rc === -ENOENT) return;
      inBatch.set(outBatch);
      first = false;
    }
  }
}

export class BpfMap<K, V> extends MapBase<K, V> {
  constructor(name: string, fd: number, key: Codec<K>, private readonly value: Codec<V>) {
    super(name, fd, key, value.size);
  }
  protected encodeValue(v: V, b: Buffer, off: number): void {
    this.value.encode(v, b, off);
  }
  protected decodeValue(b: Buffer, off: number): V {
    return this.value.decode(b, off);
  }
}

/** A per-CPU map: the kernel hands over one value per possible CPU, each 8-byte aligned. */
export class PerCpuMap<K, V> extends MapBase<K, V[]> {
  private readonly stride: number;

  constructor(name: string, fd: number, key: Codec<K>, private readonly value: Codec<V>, readonly ncpus: number) {
    const stride = Math.ceil(value.size / 8) * 8;
    super(name, fd, key, stride * ncpus);
    this.stride = stride;
  }
  protected encodeValue(v: V[], b: Buffer, off: number): void {
    if (v.length !== this.ncpus) throw new InvalidArgumentError(`${this.name} value`, v.length, `needs one value per possible CPU (${this.ncpus})`);
    v.forEach((x, i) => this.value.encode(x, b, off + i * this.stride));
  }
  protected decodeValue(b: Buffer, off: number): V[] {
    return Array.from({ length: this.ncpus }, (_, i) => this.value.decode(b, off + i * this.stride));
  }
}
