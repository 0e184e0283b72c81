// SPDX-License-Identifier: Apache-2.0
// The handling of the data plane's unresolved next hops (issue 13, defect 12): records decoded from
// the ABI's struct xlvs_nh, unreadable ones counted, asks bounded per second, and the log bounded
// per window. The ring and the kernel side are exercised in test/integration/nexthop-misses.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { XlvsNh, XLVS_AF_INET, XLVS_AF_INET6 } from '../../src/gen/abi.js';
import { askWhy, decodeMiss, MAX_ASKS_PER_SECOND, NextHopMisses, type NextHopAsker } from '../../src/dataplane/nexthop-misses.js';
import { addressBytes } from '../../src/model/ip.js';

function record(ifindex: number, family: number, address: string): Buffer {
  const b = Buffer.alloc(XlvsNh.size);
  const addr = Buffer.alloc(16);
  addr.set(Uint8Array.from(addressBytes(address)));
  XlvsNh.encode({ ifindex, family, addr }, b, 0);
  return b;
}

function logged(): { log: pino.Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
  return { log, lines };
}

test('decodeMiss reads IPv4 and IPv6 next hops and refuses what is not one', () => {
  assert.deepEqual(decodeMiss(record(3, XLVS_AF_INET, '192.0.2.7'), XlvsNh.size), { ifindex: 3, family: 4, address: '192.0.2.7' });
  assert.deepEqual(decodeMiss(record(4, XLVS_AF_INET6, '2001:db8::9'), XlvsNh.size), { ifindex: 4, family: 6, address: '2001:db8::9' });
  assert.equal(decodeMiss(record(3, 99, '192.0.2.7'), XlvsNh.size), undefined, 'unknown family');
  assert.equal(decodeMiss(record(0, XLVS_AF_INET, '192.0.2.7'), XlvsNh.size), undefined, 'no device');
  assert.equal(decodeMiss(record(3, XLVS_AF_INET, '192.0.2.7'), XlvsNh.size - 1), undefined, 'short record');
});

test('asks are bounded per second; the rest wait for the next report, and the log is summed up', () => {
  let t = 1_000_000;
  const asked: string[] = [];
  const asker: NextHopAsker = { ask: (ifindex, address) => (asked.push(`${ifindex}/${address}`), { dev: `eth${ifindex}`, asked: true }) };
  const { log, lines } = logged();
  const misses = new NextHopMisses({ ringFd: -1, log, asker, now: () => t });

  for (let i = 0; i < 300; i++) misses.handle(record(2, XLVS_AF_INET, `10.1.${i >> 8}.${i & 255}`), XlvsNh.size);
  assert.equal(asked.length, MAX_ASKS_PER_SECOND);
  assert.deepEqual(misses.counts, { asked: MAX_ASKS_PER_SECOND, leftAlone: 0, failed: 0, limited: 300 - MAX_ASKS_PER_SECOND, unreadable: 0 });
  assert.equal(asked[0], '2/10.1.0.0');

  // A second later the budget is back.
  t += 1000;
  misses.handle(record(2, XLVS_AF_INET, '10.2.0.1'), XlvsNh.size);
  assert.equal(misses.counts.asked, MAX_ASKS_PER_SECOND + 1);

  misses.handle(record(2, 7, '10.2.0.2'), XlvsNh.size);
  assert.equal(misses.counts.unreadable, 1);

  // 16 asks logged one by one; the rest in one warning when the window ends.
  const oneByOne = lines.filter((l) => l.msg.startsWith('next hop unresolved'));
  assert.equal(oneByOne.length, 16);
  t += 10_000;
  misses.handle(record(2, XLVS_AF_INET, '10.2.0.3'), XlvsNh.size);
  const summary = lines.filter((l) => l.msg.startsWith('many next hops unresolved'));
  assert.equal(summary.length, 1);
  assert.match(summary[0]!.msg, new RegExp(`${MAX_ASKS_PER_SECOND + 1 - 16} more asked .* ${300 - MAX_ASKS_PER_SECOND} left`));
});

test('a failed ask is counted and logged as an error, and does not stop the next', () => {
  const { log, lines } = logged();
  let n = 0;
  const asker: NextHopAsker = {
    ask: () => {
      if (n++ === 0) throw new Error('ENODEV');
      return { dev: 'eth1', asked: true };
    },
  };
  const misses = new NextHopMisses({ ringFd: -1, log, asker, now: () => 5 });
  misses.handle(record(9, XLVS_AF_INET, '192.0.2.1'), XlvsNh.size);
  misses.handle(record(9, XLVS_AF_INET, '192.0.2.2'), XlvsNh.size);
  assert.deepEqual(misses.counts, { asked: 1, leftAlone: 0, failed: 1, limited: 0, unreadable: 0 });
  assert.equal(lines.filter((l) => l.level === 50).length, 1);
});

test('only a missing, NONE, INCOMPLETE or FAILED ordinary entry is asked for', () => {
  assert.equal(askWhy(undefined), undefined);
  for (const state of [0x00, 0x01, 0x20]) assert.equal(askWhy({ state, managed: false }), undefined, `state ${state}`);
  // a managed entry (a real's) keeps its flag: the kernel re-probes it by itself
  for (const state of [0x01, 0x20, 0x02]) assert.equal(askWhy({ state, managed: true }), 'managed', `managed, state ${state}`);
  // resolved meanwhile, or static: NTF_USE would strip PERMANENT
  for (const state of [0x02, 0x04, 0x08, 0x10, 0x40, 0x80]) assert.equal(askWhy({ state, managed: false }), 'resolved', `state ${state}`);
});
