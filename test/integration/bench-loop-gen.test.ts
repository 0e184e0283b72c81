// SPDX-License-Identifier: Apache-2.0
// The benchmarks' generator (bench/traffic/loop-gen.ts, the XDP packet loop) and sink (bench/traffic/live-sink.ts)
// on real devices of a lab made here: frames generated out of the client's eth0 are counted,
// exactly and per flow, by the sink on the router's pub0 (its veth peer); every generated frame
// is its flow, whole, with correct checksums (recorded by bench/traffic/frame-capture.ts as it arrived);
// the loop stops at its count and at its deadline, ignores frames that are not its seed, runs
// one run at a time, a loop whose seed is lost fails within its bound instead of hanging, and
// close() leaves nothing behind.

import { after, before, test } from 'node:test';
import { readdirSync } from 'node:fs';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Lab } from '../../lab/lab.js';
import { nsArgv, run } from '../../lab/proc.js';
import { ifindexIn, inNetns } from '../../src/kernel/test-run.js';
import { RawFrames } from '../../src/host/raw-frames.js';
import { badChecksums, parseFrame, type ParsedIpv4, type ParsedTcp } from '../../testing/frames.js';
import { buildGenTemplate, flowOf, ip4ToNumber, validateGenOptions, type GenOptions } from '../../bench/traffic/gen-stream.js';
import { LoopGen } from '../../bench/traffic/loop-gen.js';
import { LoopGenError } from '../../bench/common/errors.js';
import { flowBucket, LiveSink } from '../../bench/traffic/live-sink.js';
import { FrameCapture } from '../../bench/traffic/frame-capture.js';
import { linkMac } from '../../bench/common/lab-macs.js';

const log = pino({ level: 'warn' }, pino.destination(2));
const settle = (ms = 50): Promise<void> => new Promise((r) => setTimeout(r, ms));

let lab: Lab;
let gen: LoopGen;
let sink: LiveSink;
let udp: GenOptions;

before(async () => {
  lab = await Lab.create({ reals: 1, log });
  sink = LiveSink.load({ perDst: true, perFlow: true });
  await sink.attach(lab.ns.router, 'pub0');
  gen = await LoopGen.create({ ns: lab.ns.client, target: 'eth0' });
  udp = {
    srcMac: linkMac(lab.ns.client, 'eth0'), dstMac: linkMac(lab.ns.router, 'pub0'),
    src: '198.18.0.1', srcCount: 4, dst: '203.0.113.100', dport: 5353, sport: 1024, sportCount: 100, proto: 'udp',
  };
});

after(async () => {
  for (const step of [() => gen?.close(), () => sink?.close(), () => lab?.destroy()]) {
    await Promise.resolve().then(step).catch((e: unknown) => log.error({ err: e }, 'bench-loop-gen cleanup step failed'));
  }
});

test('loop → veth → sink: 10,000 UDP frames over 400 flows are counted exactly, 25 per flow; a random SYN flood too', async () => {
  assert.equal(gen.description, 'XDP packet loop, FAN 64, seeds 1');
  const s = gen.configure(udp);
  sink.reset();
  const r = await gen.send(10_000);
  assert.deepEqual([r.sent, r.ended, r.foreign], [10_000, 'count', 0]);
  assert.equal(r.rounds, Math.ceil(10_000 / 63));
  assert.ok(r.elapsedNs > 0 && r.wallNs >= r.elapsedNs, `kernel ${r.elapsedNs} ns, wall ${r.wallNs} ns`);
  assert.equal(r.cpus.length, 1, `one seed runs on one CPU: ${r.cpus}`);
  await settle();
  const c = sink.counts();
  assert.deepEqual([c.packets, c.bytes, c.dstFull], [10_000, 600_000, 0], '60-byte frames, every one counted');
  assert.deepEqual([...c.dsts], [['203.0.113.100:5353/17', 10_000]]);
  // Each flow's 25 frames land in its bucket (buckets shared by two flows hold both).
  const want = new Map<number, number>();
  for (let f = 0; f < 400; f++) {
    const { src, sport } = flowOf(s, f);
    const b = flowBucket(ip4ToNumber('src', src), sport);
    want.set(b, (want.get(b) ?? 0) + 25);
  }
  const got = new Map<number, number>();
  sink.flowBuckets().forEach((n, b) => n > 0 && got.set(b, n));
  assert.deepEqual([...got].sort((a, b) => a[0] - b[0]), [...want].sort((a, b) => a[0] - b[0]));

  gen.configure({ ...udp, proto: 'tcp', tcpFlags: 'SYN', dport: 80, srcPrefix: '198.18.0.0/16', sportCount: 1000, order: 'random' });
  sink.reset();
  assert.equal((await gen.send(5000)).sent, 5000);
  await settle();
  const syn = sink.counts();
  assert.deepEqual([syn.packets, ...syn.dsts], [5000, ['203.0.113.100:80/6', 5000]]);
  const used = sink.flowBuckets().filter((x) => x > 0).length;
  assert.ok(used > 4000, `random sources hit ${used} buckets`);
});

test('the loop stops at its count, whatever the count against the fan, and stays stopped', async () => {
  gen.configure(udp);
  for (const n of [1, 5, 62, 63, 64, 1001]) {
    sink.reset();
    const r = await gen.send(n);
    assert.deepEqual([r.sent, r.ended], [n, 'count'], `count ${n}`);
    await settle();
    assert.equal(sink.counts().packets, n, `count ${n}: every frame delivered, none extra (the last round's surplus dropped)`);
  }
  const rounds = gen.progress().rounds;
  await settle(100);
  assert.equal(gen.progress().rounds, rounds, 'no round after the end');
  assert.equal(sink.counts().packets, 1001, 'no frame after the end');
});

test('the loop stops at its deadline: a run of 0.3 s ends by the kernel clock, every frame made is delivered', async () => {
  gen.configure(udp);
  sink.reset();
  const x0 = await gen.targetStats();
  const r = await gen.sendFor(0.3);
  assert.equal(r.ended, 'deadline');
  assert.ok(r.elapsedNs >= 0.3e9 && r.elapsedNs < 0.35e9, `ran ${r.elapsedNs} ns`);
  assert.ok(r.wallNs < 1.3e9, `send() returned after ${r.wallNs} ns`);
  assert.ok(r.sent > 100_000, `${r.sent} frames in 0.3 s`);
  await settle();
  const x1 = await gen.targetStats();
  assert.deepEqual([sink.counts().packets, x1.xmitErrors - x0.xmitErrors], [r.sent, 0],
    `every frame delivered: the sink's NAPI ran between the rounds on the loop's CPU ${r.cpus}, so pub0's ring never refused a frame`);
});

test('a frame on the loop that is not the seed is dropped and starts nothing', async () => {
  const s = gen.configure(udp);
  const foreign = Buffer.alloc(buildGenTemplate(s).frame.length);
  foreign.set(buildGenTemplate(s).frame);
  foreign[foreign.length - 1] ^= 1;
  const before = gen.progress();
  sink.reset();
  const clientPath = lab.nsPath(lab.ns.client);
  const raw = inNetns(clientPath, () => new RawFrames({ ifindex: ifindexIn(clientPath, gen.loop[0]), batch: 1, frameMax: 128 }));
  try {
    assert.equal(raw.sendFrames([foreign]).sent, 1);
  } finally {
    raw.close();
  }
  await settle(100);
  const now = gen.progress();
  assert.deepEqual([now.foreign - before.foreign, now.rounds - before.rounds, now.next - before.next], [1, 0, 0]);
  assert.equal(sink.counts().packets, 0);
});

test('a lost seed fails the send within its bounds instead of hanging, and the loop works again after', async () => {
  // 122-byte frames (IPv4 length 108) against an MTU of 68.
  gen.configure({ ...udp, payload: 80 });
  const mtu = (dev: string, v: number): Promise<unknown> => run(nsArgv(lab.ns.client, ['ip', 'link', 'set', 'dev', dev, 'mtu', String(v)]));
  const lost = (re: RegExp) => (e: unknown): boolean => e instanceof LoopGenError && e.code === 'E_BENCH_LOOP_GEN' && re.test(e.message);
  // The loop's receiving end too small: the seed is refused on its way in.
  await mtu(gen.loop[1], 68);
  try {
    await assert.rejects(gen.send(1000), lost(/the seed was not sent/));
  } finally {
    await mtu(gen.loop[1], 1500);
  }
  // The loop's sending end made too small while the loop runs: the copy back into the loop is
  // refused, the seed is gone, and send() notices the silence within its stall bound (1 s).
  const t0 = Date.now();
  const running = gen.send(1e12, { seconds: 30 });
  await assert.rejects(gen.send(10), (e: unknown) => e instanceof LoopGenError && /one run at a time/.test(e.message));
  assert.throws(() => gen.configure(udp), (e: unknown) => e instanceof LoopGenError && /one run at a time/.test(e.message));
  await settle(100);
  await mtu(gen.loop[0], 68);
  try {
    await assert.rejects(running, lost(/the loop stalled after \d+ rounds/));
    assert.ok(Date.now() - t0 < 3000, `failed after ${Date.now() - t0} ms`);
  } finally {
    await mtu(gen.loop[0], 1500);
  }
  sink.reset();
  assert.equal((await gen.send(1000)).sent, 1000);
  await settle();
  assert.deepEqual([sink.counts().packets, sink.counts().bytes], [1000, 122_000]);
});

/** The whole frame of the stream's flow src:sport, built independently of the program (checksums from scratch). */
function frameOf(o: GenOptions, src: string, sport: number): Buffer {
  return buildGenTemplate(validateGenOptions({ ...o, srcPrefix: undefined, src, srcCount: 1, sport, sportCount: 1, order: 'sequential' })).frame;
}

test('every generated frame is its flow, whole, with correct checksums, as it arrives', async () => {
  const capture = FrameCapture.load();
  try {
    await sink.detach();
    await capture.attach(lab.ns.router, 'pub0');
    // Sources across an octet boundary and ports up to 65535: the checksum patches carry.
    const o: GenOptions = { ...udp, src: '10.1.255.254', srcCount: 3, dst: '10.2.0.1', dport: 9, sport: 65530, sportCount: 6, payload: 30 };
    const s = gen.configure(o);
    capture.reset();
    assert.equal((await gen.send(200)).sent, 200);
    await settle();
    const frames = capture.frames();
    assert.equal(frames.length, 200);
    frames.forEach(({ len, frame }, n) => {
      const f = flowOf(s, n);
      assert.equal(len, frame.length, `frame ${n}: kept whole`);
      assert.deepEqual(frame, frameOf(o, f.src, f.sport), `frame ${n}: ${f.src}:${f.sport}`);
    });

    const syn: GenOptions = { ...udp, srcPrefix: '172.16.0.0/12', dst: '10.2.0.1', dport: 80, sport: 1, sportCount: 65535, proto: 'tcp', tcpFlags: 'SYN', order: 'random' };
    gen.configure(syn);
    capture.reset();
    assert.equal((await gen.send(300)).sent, 300);
    await settle();
    const srcs = new Set<string>();
    for (const { frame } of capture.frames()) {
      const p = parseFrame(frame);
      const ip = p.l3 as ParsedIpv4;
      const tcp = ip.l4 as ParsedTcp;
      const a = ip4ToNumber('src', ip.src);
      assert.ok(a >= ip4ToNumber('p', '172.16.0.0') && a <= ip4ToNumber('p', '172.31.255.255'), ip.src);
      assert.deepEqual(badChecksums(p), [], `SYN from ${ip.src}:${tcp.sport}`);
      assert.equal(tcp.flags, 'SYN');
      assert.deepEqual(frame, frameOf(syn, ip.src, tcp.sport!), `SYN from ${ip.src}:${tcp.sport}: whole`);
      srcs.add(ip.src);
    }
    assert.equal(capture.seen, 300);
    assert.ok(srcs.size > 290, `${srcs.size} distinct sources of 300`);
  } finally {
    await capture.close();
    await sink.attach(lab.ns.router, 'pub0');
  }
});

test('close() removes the loop pair and the pins, and a closed generator refuses to send', async () => {
  const pins = (): string[] => readdirSync('/sys/fs/bpf').filter((n) => n.startsWith(`xlvs-bench-gen-${process.pid}-`));
  assert.equal(pins().length, 1);
  await gen.close();
  assert.deepEqual(pins(), []);
  await assert.rejects(run(nsArgv(lab.ns.client, ['ip', 'link', 'show', 'dev', gen.loop[0]])));
  await assert.rejects(gen.send(10), (e: unknown) => e instanceof LoopGenError && /closed/.test(e.message));
});
