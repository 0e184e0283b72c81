// SPDX-License-Identifier: Apache-2.0
// The flow-scale benchmark's frame patcher (bench/flow-scale/flow-scale-frames.ts): every patched frame is
// the flow asked for, whole, with correct checksums; the n-th source is distinct per n.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpFrame, nthSource, ipv4Number, ipv4Text, BENCH_NET, BENCH_NET_SIZE } from '../../bench/flow-scale/flow-scale-frames.js';
import { badChecksums, parseFrame, type ParsedIpv4, type ParsedTcp } from '../../testing/frames.js';

test('TcpFrame.set: source address and port (and destination port) patched, checksums recomputed', () => {
  const f = new TcpFrame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', dst: '203.0.113.100', dport: 80, flags: 'SYN' });
  for (const [src, sport, dport] of [['198.18.0.1', 1024, undefined], ['198.19.255.254', 65535, undefined], ['10.77.0.21', 8443, 20001]] as const) {
    const p = parseFrame(f.set(ipv4Number(src), sport, dport));
    const ip = p.l3 as ParsedIpv4;
    const tcp = ip.l4 as ParsedTcp;
    assert.deepEqual([ip.src, ip.dst, tcp.sport, tcp.dport, tcp.flags], [src, '203.0.113.100', sport, dport ?? 80, 'SYN']);
    assert.deepEqual(badChecksums(p), [], `${src}:${sport}`);
  }
});

test('nthSource: distinct flows inside 198.18.0.0/15, ports 1024..65023', () => {
  const seen = new Set<string>();
  for (const i of [0, 1, 63_999, 64_000, 64_001, 999_999, 4_000_000]) {
    const s = nthSource(i);
    assert.ok(s.src >= BENCH_NET && s.src < BENCH_NET + BENCH_NET_SIZE, ipv4Text(s.src));
    assert.ok(s.sport >= 1024 && s.sport <= 65023, String(s.sport));
    seen.add(`${s.src}:${s.sport}`);
  }
  assert.equal(seen.size, 7);
  assert.deepEqual(nthSource(64_000), { src: ipv4Number('198.18.0.1'), sport: 1024 });
  assert.equal(ipv4Text(ipv4Number('198.19.255.255')), '198.19.255.255');
});
