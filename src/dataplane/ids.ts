// SPDX-License-Identifier: Apache-2.0
// Slot allocation for services and reals in the array maps. Freed slots are
// reused last (rotating cursor, which also moves past every slot adopted at a
// restart) so that late packets of a removed real's old flows are not counted
// to a new real in the same slot right away; a caller may also refuse slots
// (the reconciler refuses real slots whose connections are still counted).

import { CapacityError } from '../errors.js';

export class IdAllocator {
  /** One byte per id (1: in use): a planner clones the allocator per apply, and a byte array
   * of 131,072 reals copies in microseconds where a Set of them took milliseconds. */
  private readonly used: Uint8Array;
  private count = 0;
  private next = 0;

  constructor(readonly what: string, readonly capacity: number, from?: IdAllocator) {
    this.used = from ? new Uint8Array(from.used) : new Uint8Array(capacity);
    if (from) {
      this.count = from.count;
      this.next = from.next;
    }
  }

  /** An independent copy: what the planner allocates in it leaves this one as it was. */
  clone(): IdAllocator {
    return new IdAllocator(this.what, this.capacity, this);
  }

  take(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.capacity) throw new RangeError(`${this.what} id ${id} outside 0..${this.capacity - 1}`);
    if (!this.used[id]) this.count++;
    this.used[id] = 1;
    if (id + 1 < this.capacity && id + 1 > this.next) this.next = id + 1;
  }

  free(id: number): void {
    if (this.used[id]) this.count--;
    this.used[id] = 0;
  }

  has(id: number): boolean {
    return this.used[id] === 1;
  }

  get size(): number {
    return this.count;
  }

  /** The next free id (after the last one handed out) that `accept` takes. */
  alloc(accept: (id: number) => boolean = () => true): number {
    if (this.count >= this.capacity) throw new CapacityError(this.what, this.capacity);
    for (let i = 0; i < this.capacity; i++) {
      const id = (this.next + i) % this.capacity;
      if (!this.used[id] && accept(id)) {
        this.used[id] = 1;
        this.count++;
        this.next = (id + 1) % this.capacity;
        return id;
      }
    }
    throw new CapacityError(this.what, this.capacity);
  }
}
