// SPDX-License-Identifier: Apache-2.0
// The SYN prober's slots (health/probes/syn-slots.ts): random free slots, never one taken twice;
// a port that maps back to its slot the way bpf/probe.h looks it up; a fresh random nonce per
// use; the collision check; bad limits refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SynSlots } from '../../src/health/probes/syn-slots.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { XLVS_MAX_PROBES, XLVS_PROBE_PORT_MIN, XLVS_PROBE_PORTS, XLVS_PROBE_PORT_SLOTS } from '../../src/gen/abi.js';

const LIMITS = { slots: XLVS_MAX_PROBES, portMin: XLVS_PROBE_PORT_MIN, ports: XLVS_PROBE_PORTS };

test('every slot can be taken, none twice while it is out; a freed one comes back', () => {
  const s = new SynSlots(LIMITS);
  const seen = new Set<number>();
  for (let i = 0; i < XLVS_MAX_PROBES; i++) {
    const slot = s.take();
    assert.ok(slot >= 0 && slot < XLVS_MAX_PROBES && !seen.has(slot), `slot ${slot} taken once`);
    seen.add(slot);
  }
  assert.equal(s.take(), -1, 'none free');
  assert.equal(s.available, 0);
  s.give(4242);
  assert.equal(s.take(), 4242, 'the only free one');
});

test('slots are not handed out in order: the next slot, and so the port, is not predictable', () => {
  const s = new SynSlots(LIMITS);
  const first = Array.from({ length: 16 }, () => s.take());
  assert.notDeepEqual(first, [...first].sort((a, b) => a - b), `taken in order: ${first.join(',')}`);
  // One slot freed and taken again at once: out of 65,521 free slots, the same one comes back rarely.
  const ports = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const slot = s.take();
    ports.add(s.port(slot));
    s.give(slot);
  }
  assert.ok(ports.size > 150, `200 uses of one free pool went to ${ports.size} ports`);
});

test('the port maps back to the slot: probe.h finds it among XLVS_PROBE_PORT_SLOTS slots, always in the probe range', () => {
  assert.equal(XLVS_PROBE_PORTS * XLVS_PROBE_PORT_SLOTS, XLVS_MAX_PROBES);
  const s = new SynSlots(LIMITS);
  for (let i = 0; i < 5000; i++) {
    const slot = s.take();
    const port = s.port(slot);
    assert.ok(port >= XLVS_PROBE_PORT_MIN && port < XLVS_PROBE_PORT_MIN + XLVS_PROBE_PORTS, `port ${port} in range`);
    const candidates = Array.from({ length: XLVS_PROBE_PORT_SLOTS }, (_, b) => b * XLVS_PROBE_PORTS + (port - XLVS_PROBE_PORT_MIN));
    assert.ok(candidates.includes(slot), `slot ${slot} among the slots of port ${port}`);
  }
});

test('each use of a slot draws a fresh 32-bit nonce', () => {
  const s = new SynSlots({ slots: 1, portMin: XLVS_PROBE_PORT_MIN, ports: XLVS_PROBE_PORTS });
  const seqs = new Set<number>();
  let high = 0;
  for (let i = 0; i < 1000; i++) {
    const slot = s.take();
    const seq = s.seq(slot);
    assert.ok(Number.isInteger(seq) && seq >= 0 && seq <= 0xffff_ffff);
    if (seq >= 0x8000_0000) high++;
    seqs.add(seq);
    s.give(slot);
  }
  assert.ok(seqs.size >= 999, `${seqs.size} distinct nonces in 1,000 uses`);
  assert.ok(high > 400 && high < 600, `the top bit is random too (${high} of 1000 set)`);
});

test('a colliding pick is tried again, a bounded number of times', () => {
  const s = new SynSlots({ slots: 2, portMin: XLVS_PROBE_PORT_MIN, ports: 2 });
  let zeros = 0;
  for (let i = 0; i < 1000; i++) {
    const slot = s.take((x) => x === 0);
    if (slot === 0) zeros++;
    s.give(slot);
  }
  // slot 0 stays only when all 8 picks were it: 1 in 256, about 4 in 1,000 (without the check: 500)
  assert.ok(zeros < 40, `slot 0 (colliding) taken ${zeros} times in 1,000`);
  let asked = 0;
  const slot = s.take(() => { asked++; return true; });
  assert.ok(slot >= 0, 'when every pick collides, the last one is taken anyway');
  assert.equal(asked, 7, 'after 8 picks');
});

test('bad limits and a double give are refused, naming the field', () => {
  const bad = (f: () => unknown, field: string): void => assert.throws(f, (e: unknown) => e instanceof InvalidArgumentError && e.field === field);
  bad(() => new SynSlots({ slots: 65537, portMin: 61440, ports: 4096 }), 'slots');
  bad(() => new SynSlots({ slots: 0, portMin: 61440, ports: 4096 }), 'slots');
  bad(() => new SynSlots({ slots: 5000, portMin: 61440, ports: 4096 }), 'slots');
  bad(() => new SynSlots({ slots: 8, portMin: 61440, ports: 3000 }), 'ports');
  bad(() => new SynSlots({ slots: 8, portMin: 63000, ports: 4096 }), 'portMin');
  const s = new SynSlots({ slots: 2, portMin: 61440, ports: 4 });
  bad(() => s.give(0), 'slot');
  const t = s.take();
  s.give(t);
  bad(() => s.give(t), 'slot');
});
