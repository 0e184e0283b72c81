// SPDX-License-Identifier: Apache-2.0
// Slot allocation for services and reals in the array maps. Freed slots are
// reused last (rotating cursor) so that late packets of a removed real's old
// flows are not counted to a new real in the same slot right away.

import { CapacityError } from '../errors.js';

export class IdAllocator {
  private readonly used = new Set<number>();
  private next = 0;

  constructor(readonly what: string, readonly capacity: number) {}

  take(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.capacity) throw new RangeError(`${this.what} id ${id} outside 0..${this.capacity - 1}`);
    this.used.add(id);
  }

  free(id: number): void {
    this.used.delete(id);
  }

  get size(): number {
    return this.used.size;
  }

  alloc(): number {
    if (this.used.size >= this.capacity) throw new CapacityError(this.what, this.capacity);
    for (let i = 0; i < this.capacity; i++) {
      const id = (this.next + i) % this.capacity;
      if (!this.used.has(id)) {
        this.used.add(id);
        this.next = (id + 1) % this.capacity;
        return id;
      }
    }
    throw new CapacityError(this.what, this.capacity);
  }
}
