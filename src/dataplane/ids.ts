// SPDX-License-Identifier: Apache-2.0
// Slot allocation for services and reals in the array maps. Freed slots are
// reused last (rotating cursor, which also moves past every slot adopted at a
// restart) so that late packets of a removed real's old flows are not counted
// to a new real in the same slot right away; a caller may also refuse slots
// (the reconciler refuses real slots whose connections are still counted).

import { CapacityError } from '../errors.js';

export class IdAllocator {
  private readonly used = new Set<number>();
  private next = 0;

  constructor(readonly what: string, readonly capacity: number) {}

  take(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.capacity) throw new RangeError(`${this.what} id ${id} outside 0..${this.capacity - 1}`);
    this.used.add(id);
    if (id + 1 < this.capacity && id + 1 > this.next) this.next = id + 1;
  }

  free(id: number): void {
    this.used.delete(id);
  }

  get size(): number {
    return this.used.size;
  }

  /** The next free id (after the last one handed out) that `accept` takes. */
  alloc(accept: (id: number) => boolean = () => true): number {
    if (this.used.size >= this.capacity) throw new CapacityError(this.what, this.capacity);
    for (let i = 0; i < this.capacity; i++) {
      const id = (this.next + i) % this.capacity;
      if (!this.used.has(id) && accept(id)) {
        this.used.add(id);
        this.next = (id + 1) % this.capacity;
        return id;
      }
    }
    throw new CapacityError(this.what, this.capacity);
  }
}
