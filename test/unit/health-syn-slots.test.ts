// SPDX-License-Identifier: Apache-2.0
// The SYN prober's slots (health/probes/syn-slots.ts): oldest-freed reuse, sequence numbers that
// name their slot the way bpf/probe.h decodes them, source ports inside the probe range.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SynSlots, slotOfAck } from '../../src/health/probes/syn-slots.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { XLVS_MAX_PROBES, XLVS_PROBE_PORT_MIN, XLVS_PROBE_PORTS } from '../../src/gen/abi.js';

const LIMITS = { slots: XLVS_MAX_PROBES, portMin: XLVS_PROBE_PORT_MIN, ports: XLVS_PROBE_PORTS };

test('every slot is handed out once before any is reused, and a freed slot waits behind all free ones', () => {
  const s = new SynSlots({ slots: 4, portMin: 61440, ports: 4 });
  const first = [s.take(), s.take(), s.take()];
  assert.deepEqual(first, [0, 1, 2]);
  s.give(1);
  assert.equal(s.take(), 3, 'the never-used slot before the freed one');
  assert.equal(s.take(), 1, 'then the freed one');
  assert.equal(s.take(), -1, 'none free');
  assert.equal(s.available, 0);
  s.give(0);
  s.give(2);
  assert.deepEqual([s.take(), s.take()], [0, 2], 'freed order kept');
});

test('seq names the slot in its high 16 bits; the answer\'s ack (seq + 1) decodes back to it, also across the 32-bit wrap', () => {
  const s = new SynSlots(LIMITS);
  const seen = new Set<number>();
  for (let i = 0; i < XLVS_MAX_PROBES; i++) {
    const slot = s.take();
    const seq = s.seq(slot);
    assert.equal(slotOfAck((seq + 1) >>> 0), slot);
    seen.add(seq);
  }
  assert.equal(seen.size, XLVS_MAX_PROBES, 'distinct sequence numbers');
  // the last slot's seq 0xffff_xxxx + 1 may wrap to 0x0000_0000 only for gen 0xffff
  assert.equal(slotOfAck(0), 0xffff);
});

test('a slot\'s next use has another generation: another seq and another source port, always in the probe range', () => {
  const s = new SynSlots({ slots: 2, portMin: XLVS_PROBE_PORT_MIN, ports: XLVS_PROBE_PORTS });
  const seqs = new Set<number>();
  const ports = new Set<number>();
  for (let i = 0; i < 2 * 65_536 + 10; i++) {
    const slot = s.take();
    const port = s.port(slot);
    assert.ok(port >= XLVS_PROBE_PORT_MIN && port < XLVS_PROBE_PORT_MIN + XLVS_PROBE_PORTS, `port ${port} in range`);
    if (slot === 0) {
      seqs.add(s.seq(slot));
      ports.add(port);
    }
    s.give(slot);
  }
  assert.equal(seqs.size, 65536, 'slot 0 went through every generation (16 bits) before repeating a seq');
  assert.equal(ports.size, XLVS_PROBE_PORTS, 'and through every probe port');
});

test('bad limits and a double give are refused, naming the field', () => {
  const bad = (f: () => unknown, field: string): void => assert.throws(f, (e: unknown) => e instanceof InvalidArgumentError && e.field === field);
  bad(() => new SynSlots({ slots: 65537, portMin: 61440, ports: 4096 }), 'slots');
  bad(() => new SynSlots({ slots: 0, portMin: 61440, ports: 4096 }), 'slots');
  bad(() => new SynSlots({ slots: 8, portMin: 61440, ports: 3000 }), 'ports');
  bad(() => new SynSlots({ slots: 8, portMin: 63000, ports: 4096 }), 'portMin');
  const s = new SynSlots({ slots: 2, portMin: 61440, ports: 4 });
  bad(() => s.give(0), 'slot');
});
