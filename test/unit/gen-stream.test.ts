// SPDX-License-Identifier: Apache-2.0
// The generator's streams, its pure part (bench/traffic/gen-stream.ts): option validation, flow 0's
// template (the loop's seed), the struct gen_cfg encoding, the sequence of flows; and the sink's
// flow bucket (bench/traffic/live-sink.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildGenTemplate, CFG, encodeGenCfg, ETH_MIN_FRAME, flowOf, ip4ToNumber, numberToIp4, validateGenOptions, type GenOptions,
} from '../../bench/traffic/gen-stream.js';
import { flowBucket, SINK_FLOW_BUCKETS } from '../../bench/traffic/live-sink.js';
import { badChecksums, parseFrame, type ParsedIpv4, type ParsedTcp, type ParsedUdp } from '../../testing/frames.js';
import { InvalidArgumentError } from '../../src/errors.js';

const base: GenOptions = { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '203.0.113.2', dst: '203.0.113.100', dport: 5353, sport: 1024, sportCount: 4096, proto: 'udp' };

const rejects = (o: Partial<GenOptions> & Record<string, unknown>, field: string): void => {
  assert.throws(() => validateGenOptions({ ...base, ...o } as GenOptions), (e: unknown) => e instanceof InvalidArgumentError && e.field === field, field);
};

test('validateGenOptions fills the defaults', () => {
  const s = validateGenOptions(base);
  assert.equal(s.srcBase, ip4ToNumber('src', '203.0.113.2'));
  assert.deepEqual([s.srcCount, s.sportCount, s.payload, s.order, s.ttl, s.tcpFlags], [1, 4096, 18, 'sequential', 64, 'ACK']);
});

test('validateGenOptions names the bad field', () => {
  rejects({ srcMac: '02:00:00:00:00' }, 'srcMac');
  rejects({ dstMac: 'zz:00:00:00:00:02' }, 'dstMac');
  rejects({ src: '203.0.113' }, 'src');
  rejects({ dst: '::1' }, 'dst');
  rejects({ dport: 0 }, 'dport');
  rejects({ sport: 70000 }, 'sport');
  rejects({ sport: 65000, sportCount: 1000 }, 'sportCount');
  rejects({ srcCount: 0 }, 'srcCount');
  rejects({ src: '255.255.255.250', srcCount: 10 }, 'srcCount');
  rejects({ srcPrefix: '10.0.0.0' }, 'srcPrefix');
  rejects({ srcPrefix: '10.0.0.0/4' }, 'srcPrefix length');
  rejects({ payload: 200 }, 'payload');
  rejects({ proto: 'sctp' as 'udp' }, 'proto');
  rejects({ proto: 'tcp', tcpFlags: 'SYN,BOGUS' }, 'tcpFlags');
  rejects({ proto: 'tcp', payload: 4 }, 'payload');
  rejects({ order: 'shuffled' as 'random' }, 'order');
  rejects({ ttl: 1 }, 'ttl');
});

test('a source prefix covers the whole prefix from its network address', () => {
  const s = validateGenOptions({ ...base, srcPrefix: '198.18.7.9/15' });
  assert.equal(numberToIp4(s.srcBase), '198.18.0.0');
  assert.equal(s.srcCount, 2 ** 17);
});

test('the UDP template is a 60-byte frame with correct checksums', () => {
  const s = validateGenOptions(base);
  const t = buildGenTemplate(s);
  assert.equal(t.frame.length, ETH_MIN_FRAME);
  const p = parseFrame(t.frame);
  assert.deepEqual(badChecksums(p), []);
  const ip = p.l3 as ParsedIpv4;
  const udp = ip.l4 as ParsedUdp;
  assert.deepEqual([ip.src, ip.dst, ip.ttl, udp.sport, udp.dport], ['203.0.113.2', '203.0.113.100', 64, 1024, 5353]);
  assert.equal(t.frame.readUInt16BE(t.l4CsumOff), udp.checksum);
});

test('a TCP SYN template is padded to the Ethernet minimum; its checksum offset is right', () => {
  const s = validateGenOptions({ ...base, proto: 'tcp', tcpFlags: 'SYN', dport: 80 });
  const t = buildGenTemplate(s);
  assert.equal(t.frame.length, ETH_MIN_FRAME);
  const p = parseFrame(t.frame);
  const tcp = (p.l3 as ParsedIpv4).l4 as ParsedTcp;
  assert.equal(tcp.flags, 'SYN');
  assert.deepEqual(badChecksums(p), []);
  assert.equal(t.frame.readUInt16BE(t.l4CsumOff), tcp.checksum);
  assert.equal(p.trailer.length, 12, 'six bytes of padding');
});

test('encodeGenCfg lays out struct gen_cfg: the stream, the loop device, the run\'s bounds', () => {
  const s = validateGenOptions({ ...base, order: 'random', srcCount: 7 });
  const t = buildGenTemplate(s);
  const b = encodeGenCfg(s, t, { loopIfindex: 9, targets: 63, count: 2 ** 40 + 3, maxNs: 1.5e9 });
  assert.equal(b.length, 176);
  assert.deepEqual([...b.subarray(0, t.frame.length)], [...t.frame]);
  assert.ok(b.subarray(t.frame.length, 128).every((x) => x === 0));
  assert.deepEqual([128, 132, 136, 140, 144, 148, 152, 156].map((o) => b.readUInt32LE(o)), [60, 40, 4096, 7, 1, 1, 9, 63]);
  assert.equal(b.readBigUInt64LE(CFG.count), 2n ** 40n + 3n);
  assert.equal(b.readBigUInt64LE(CFG.maxNs), 1_500_000_000n);
});

test('sequential flows vary the port fastest, then the address, and wrap', () => {
  const s = validateGenOptions({ ...base, sportCount: 3, srcCount: 2 });
  const got = [0, 1, 2, 3, 5, 6].map((n) => flowOf(s, n));
  assert.deepEqual(got, [
    { src: '203.0.113.2', sport: 1024 }, { src: '203.0.113.2', sport: 1025 }, { src: '203.0.113.2', sport: 1026 },
    { src: '203.0.113.3', sport: 1024 }, { src: '203.0.113.3', sport: 1026 }, { src: '203.0.113.2', sport: 1024 },
  ]);
});

test('flow buckets: u32 arithmetic, in range, consecutive ports of one address apart', () => {
  const a = ip4ToNumber('a', '203.0.113.2');
  // (0xCB007102 * 0x9E3779B1 + 1024) mod 2^32, low 16 bits, worked out with BigInt.
  const want = Number(((BigInt(a) * 0x9e3779b1n + 1024n) % 2n ** 32n) & 0xffffn);
  assert.equal(flowBucket(a, 1024), want);
  const buckets = new Set(Array.from({ length: 4096 }, (_, i) => flowBucket(a, 1024 + i)));
  assert.equal(buckets.size, 4096);
  for (const b of buckets) assert.ok(b >= 0 && b < SINK_FLOW_BUCKETS);
});
