// SPDX-License-Identifier: Apache-2.0
// The pure part of the data plane's SYN probes (bpf/probe.h): which slot a probe takes, its
// source port, and the nonce its SYN carries as sequence number.
//
// An answer is taken only with the right port and ack = nonce + 1 (and from the MAC the SYN went
// to, checked in the data plane): a host on the private LAN that forges a RST (to take a real
// down) or a SYN-ACK (to keep a dead one up) must guess both. So both come from the CSPRNG:
//  - the slot is a random free one, and the slot fixes the port (portMin + slot % ports), so the
//    data plane finds an answer's slot among the few that share its port: a fixed number of
//    lookups in XDP, no index to keep;
//  - the nonce is 32 random bits drawn at each use. It also keeps a late answer to an earlier
//    use of a slot from being taken for the current one.
// crypto.randomFillSync, not bpf_get_prandom_u32 (a non-cryptographic generator whose outputs an
// observer may predict) and not Math.random (the same); drawn in blocks, so a probe costs no call.

import { randomFillSync } from 'node:crypto';
import { InvalidArgumentError } from '../../errors.js';

export interface SynSlotLimits {
  slots: number; // XLVS_MAX_PROBES: at most 65536, a multiple of ports
  portMin: number; // XLVS_PROBE_PORT_MIN
  ports: number; // XLVS_PROBE_PORTS: a power of two
}

/** Random 32-bit words, drawn from the CSPRNG a block at a time. */
class RandomWords {
  private readonly words = new Uint32Array(1024);
  private next = this.words.length;

  u32(): number {
    if (this.next === this.words.length) {
      randomFillSync(this.words);
      this.next = 0;
    }
    return this.words[this.next++]!;
  }

  /** Uniform in 0..n-1 (n at most 2^32; the bias of the multiply is below n / 2^32). */
  below(n: number): number {
    return Math.floor((this.u32() * n) / 0x1_0000_0000);
  }
}

/** How many random slots take() tries for one that does not collide before it takes the last one. */
const TAKE_TRIES = 8;

export class SynSlots {
  /** Free slots in free[0 .. count-1], in no order; pos[slot]: its index there, or -1 when taken. */
  private readonly free: Uint32Array;
  private readonly pos: Int32Array;
  private count: number;
  private readonly nonces: Uint32Array;
  private readonly rand = new RandomWords();

  constructor(readonly limits: SynSlotLimits) {
    const { slots, portMin, ports } = limits;
    if (!Number.isInteger(ports) || ports < 1 || (ports & (ports - 1)) !== 0) throw new InvalidArgumentError('ports', ports, 'must be a power of two');
    if (!Number.isInteger(slots) || slots < 1 || slots > 65536 || (slots > ports && slots % ports !== 0)) {
      throw new InvalidArgumentError('slots', slots, `must be an integer 1..65536, a multiple of ports (${ports}) when more`);
    }
    if (!Number.isInteger(portMin) || portMin < 1024 || portMin + ports > 65536) throw new InvalidArgumentError('portMin', portMin, `must be 1024..${65536 - ports}`);
    this.free = new Uint32Array(slots);
    this.pos = new Int32Array(slots);
    for (let i = 0; i < slots; i++) {
      this.free[i] = i;
      this.pos[i] = i;
    }
    this.count = slots;
    this.nonces = new Uint32Array(slots);
  }

  get available(): number {
    return this.count;
  }

  /**
   * Takes a random free slot and draws its nonce; -1 when none is free. `collides(slot)` (when
   * given) rejects a slot whose port a probe of the same target already uses: the real would
   * take the second SYN for the first one's. It is tried a few times, then the last pick stays.
   */
  take(collides?: (slot: number) => boolean): number {
    if (this.count === 0) return -1;
    let i = this.rand.below(this.count);
    for (let t = 1; t < TAKE_TRIES && collides?.(this.free[i]!); t++) i = this.rand.below(this.count);
    const slot = this.free[i]!;
    const last = this.free[--this.count]!;
    this.free[i] = last;
    this.pos[last] = i;
    this.pos[slot] = -1;
    this.nonces[slot] = this.rand.u32();
    return slot;
  }

  /** Returns a slot taken with take(). */
  give(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.free.length || this.pos[slot] !== -1) {
      throw new InvalidArgumentError('slot', slot, 'was not taken');
    }
    this.pos[slot] = this.count;
    this.free[this.count++] = slot;
  }

  /** The SYN's sequence number for the slot's current use: its nonce. */
  seq(slot: number): number {
    return this.nonces[slot]!;
  }

  /** The source port of the slot, inside the probe range: what bpf/probe.h maps back to it. */
  port(slot: number): number {
    return this.limits.portMin + (slot & (this.limits.ports - 1));
  }

}
