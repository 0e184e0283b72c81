// SPDX-License-Identifier: Apache-2.0
// The pure part of the data plane's SYN probes (bpf/probe.h): which slot a probe takes, the
// sequence number that names it in the answer's acknowledgement, and its source port.
//
// Slots are reused oldest-freed first, so a slot waits as long as possible before it carries a
// new probe: an answer that comes very late still finds its old sequence number gone (the
// generation moved on) and is not mistaken for the new probe's. The generation makes each use
// of a slot a different sequence number and a different source port, so two probes of one
// target in a row are two different connections to the real.

import { InvalidArgumentError } from '../../errors.js';

export interface SynSlotLimits {
  slots: number; // XLVS_MAX_PROBES: at most 65536 (the slot is the high 16 bits of seq)
  portMin: number; // XLVS_PROBE_PORT_MIN
  ports: number; // XLVS_PROBE_PORTS: a power of two
}

export class SynSlots {
  private readonly free: Uint32Array;
  private head = 0; // next slot to hand out
  private count: number; // free slots
  private readonly gens: Uint16Array;

  constructor(readonly limits: SynSlotLimits) {
    const { slots, portMin, ports } = limits;
    if (!Number.isInteger(slots) || slots < 1 || slots > 65536) throw new InvalidArgumentError('slots', slots, 'must be an integer 1..65536');
    if (!Number.isInteger(ports) || ports < 1 || (ports & (ports - 1)) !== 0) throw new InvalidArgumentError('ports', ports, 'must be a power of two');
    if (!Number.isInteger(portMin) || portMin < 1024 || portMin + ports > 65536) throw new InvalidArgumentError('portMin', portMin, `must be 1024..${65536 - ports}`);
    this.free = new Uint32Array(slots);
    for (let i = 0; i < slots; i++) this.free[i] = i;
    this.count = slots;
    this.gens = new Uint16Array(slots);
  }

  get available(): number {
    return this.count;
  }

  /** Takes the slot freed longest ago and moves it to its next generation; -1 when none is free. */
  take(): number {
    if (this.count === 0) return -1;
    const slot = this.free[this.head]!;
    this.head = (this.head + 1) % this.free.length;
    this.count--;
    this.gens[slot] = (this.gens[slot]! + 1) & 0xffff;
    return slot;
  }

  /** Returns a slot taken with take(). */
  give(slot: number): void {
    if (this.count === this.free.length) throw new InvalidArgumentError('slot', slot, 'was not taken (every slot is free)');
    this.free[(this.head + this.count) % this.free.length] = slot;
    this.count++;
  }

  /** The SYN's sequence number for the slot's current use: slot << 16 | generation. */
  seq(slot: number): number {
    return ((slot << 16) | this.gens[slot]!) >>> 0;
  }

  /** The source port for the slot's current use, inside the probe range. */
  port(slot: number): number {
    return this.limits.portMin + ((slot + this.gens[slot]!) & (this.limits.ports - 1));
  }
}

/** The slot an answer's acknowledgement number names (what bpf/probe.h computes). */
export function slotOfAck(ack: number): number {
  return ((ack - 1) >>> 0) >>> 16;
}
