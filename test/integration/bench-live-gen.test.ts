// SPDX-License-Identifier: Apache-2.0
// The benchmarks' generator and sink (bench/live-gen.ts, bench/live-sink.ts) on real devices:
// frames sent with BPF_F_TEST_XDP_LIVE_FRAMES out of the lab client's eth0 are counted, exactly,
// by the sink on the router's pub0 (its veth peer); and every generated frame is the right flow
// with correct checksums (checked on the program's output in plain test-run mode).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import pino from 'pino';
import { Lab } from '../../src/lab/lab.js';
import { XdpTestRunner, XDP } from '../../src/bpf/test-run.js';
import { badChecksums, parseFrame, type ParsedIpv4, type ParsedTcp, type ParsedUdp } from '../../src/testing/frames.js';
import { flowOf, ip4ToNumber, LiveGen, numberToIp4, type GenOptions } from '../../bench/live-gen.js';
import { flowBucket, LiveSink } from '../../bench/live-sink.js';

const log = pino({ level: 'warn' }, pino.destination(2));

const linkMac = (ns: string, dev: string): string =>
  (JSON.parse(execFileSync('ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev], { encoding: 'utf8' })) as Array<{ address: string }>)[0]!.address;

test('generator → veth → sink: 10,000 UDP frames over 400 flows are counted exactly, 25 per flow', async () => {
  const lab = await Lab.create({ reals: 1, log });
  const gen = LiveGen.load();
  const sink = LiveSink.load({ perDst: true, perFlow: true });
  try {
    await sink.attach(lab.ns.router, 'pub0');
    const opts: GenOptions = {
      srcMac: linkMac(lab.ns.client, 'eth0'), dstMac: linkMac(lab.ns.router, 'pub0'),
      src: '198.18.0.1', srcCount: 4, dst: '203.0.113.100', dport: 5353, sport: 1024, sportCount: 100, proto: 'udp',
    };
    const s = gen.configure(opts);
    sink.reset();
    const r = gen.send(lab.nsPath(lab.ns.client), 'eth0', 10_000);
    assert.equal(r.sent, 10_000);
    assert.ok(r.kernelNs > 0 && r.wallNs > 0, `kernel ${r.kernelNs} ns, wall ${r.wallNs} ns`);
    const c = sink.counts();
    assert.equal(c.packets, 10_000);
    assert.equal(c.bytes, 600_000, '60-byte frames');
    assert.equal(c.dstFull, 0);
    assert.deepEqual([...c.dsts], [['203.0.113.100:5353/17', 10_000]]);
    // Each flow's 25 frames land in its bucket (buckets shared by two flows hold both).
    const want = new Map<number, number>();
    for (let f = 0; f < 400; f++) {
      const { src, sport } = flowOf(s, f);
      const b = flowBucket(ip4ToNumber('src', src), sport);
      want.set(b, (want.get(b) ?? 0) + 25);
    }
    const buckets = sink.flowBuckets();
    const got = new Map<number, number>();
    buckets.forEach((n, b) => n > 0 && got.set(b, n));
    assert.deepEqual([...got].sort((a, b) => a[0] - b[0]), [...want].sort((a, b) => a[0] - b[0]));

    // A TCP SYN flood from random sources of a /16: still every frame counted, spread over buckets.
    gen.configure({ ...opts, proto: 'tcp', tcpFlags: 'SYN', dport: 80, srcPrefix: '198.18.0.0/16', sportCount: 1000, order: 'random' });
    sink.reset();
    assert.equal(gen.send(lab.nsPath(lab.ns.client), 'eth0', 5000).sent, 5000);
    const syn = sink.counts();
    assert.equal(syn.packets, 5000);
    assert.deepEqual([...syn.dsts], [['203.0.113.100:80/6', 5000]]);
    const used = sink.flowBuckets().filter((x) => x > 0).length;
    assert.ok(used > 4000, `random sources hit ${used} buckets`);
  } finally {
    await sink.close().catch((e: unknown) => log.error({ err: e }, 'sink close failed'));
    gen.close();
    await lab.destroy();
  }
});

test('every generated frame is its flow, whole, with correct checksums (recycled pages rewritten)', () => {
  const gen = LiveGen.load();
  try {
    const s = gen.configure({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '10.1.255.254', srcCount: 3, dst: '10.2.0.1', dport: 9, sport: 65530, sportCount: 6, proto: 'udp', payload: 30 });
    const runner = new XdpTestRunner(gen.progFd);
    // A frame left by a NAT: wrong addresses, ports and checksums everywhere. The program must overwrite it all.
    const junk = Buffer.alloc(72, 0xee);
    for (let n = 0; n < 40; n++) {
      assert.equal(runner.run(junk), XDP.TX, `frame ${n}`);
      const p = parseFrame(runner.out.subarray(0, runner.outLength));
      const ip = p.l3 as ParsedIpv4;
      const udp = ip.l4 as ParsedUdp;
      const want = flowOf(s, n);
      assert.deepEqual([ip.src, udp.sport, ip.dst, udp.dport, ip.ttl, udp.payload], [want.src, want.sport, '10.2.0.1', 9, 64, '5a'.repeat(30)], `frame ${n}`);
      assert.deepEqual(badChecksums(p), [], `frame ${n}: ${want.src}:${want.sport}`);
    }
    assert.equal(gen.generated, 40);
    gen.configure({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', srcPrefix: '172.16.0.0/12', dst: '10.2.0.1', dport: 80, sport: 1, sportCount: 65535, proto: 'tcp', tcpFlags: 'SYN', order: 'random' });
    const srcs = new Set<string>();
    const short = Buffer.alloc(60, 0xee);
    for (let n = 0; n < 200; n++) {
      assert.equal(runner.run(short), XDP.TX);
      const p = parseFrame(runner.out.subarray(0, runner.outLength));
      const ip = p.l3 as ParsedIpv4;
      const tcp = ip.l4 as ParsedTcp;
      assert.equal(tcp.flags, 'SYN');
      const a = ip4ToNumber('src', ip.src);
      assert.ok(a >= ip4ToNumber('p', '172.16.0.0') && a <= ip4ToNumber('p', '172.31.255.255'), ip.src);
      assert.deepEqual(badChecksums(p), [], `SYN from ${ip.src}:${tcp.sport}`);
      srcs.add(ip.src);
    }
    assert.ok(srcs.size > 190, `${srcs.size} distinct sources of 200`);
    assert.equal(numberToIp4(ip4ToNumber('x', '172.31.255.255')), '172.31.255.255');
  } finally {
    gen.close();
  }
});
