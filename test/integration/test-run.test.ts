// SPDX-License-Identifier: Apache-2.0
// BPF_PROG_TEST_RUN on the real programs: build/xlvs_pass.bpf.o and build/xlvs.bpf.o's
// xlvs_public/xlvs_private, run from inside a lab's router namespace so that ingress
// interfaces and bpf_fib_lookup are the router's. Fixtures check verdicts and output frames
// field by field; a short fuzz run checks that nothing but VIP traffic is ever touched.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Lab } from '../../lab/lab.js';
import { BpfObject } from '../../src/kernel/object.js';
import { ensureBpffs, unpin } from '../../src/kernel/bpffs.js';
import { runXdp, inNetns, ifindexIn, XdpTestRunner, XDP, verdictName } from '../../src/kernel/test-run.js';
import { FixtureRunner, FixtureError, TestDataplane, type Fixture } from '../../testing/fixture.js';
import { FrameFuzzer } from '../../testing/fuzz.js';
import { buildFrame, type FrameSpec, type ParsedIpv4, type ParsedTcp } from '../../testing/frames.js';
import { Reconciler } from '../../src/dataplane/reconcile.js';
import { BpfError, InvalidArgumentError } from '../../src/errors.js';
import { desired, service } from '../../testing/desired.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const VIP = '203.0.113.100';
const CLIENT = '203.0.113.2';
const REAL = '10.77.0.11';
const log = pino({ level: 'warn' }, pino.destination(2));

let lab: Lab;
let dp: TestDataplane;
let pass: BpfObject;
let passPin: string;
let rtr: string; // the router namespace's path
const mac: Record<string, string> = {};

const linkMac = (ns: string, dev: string): string =>
  (JSON.parse(execFileSync('ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev], { encoding: 'utf8' })) as Array<{ address: string }>)[0]!.address;

before(async () => {
  lab = await Lab.create({ reals: 1 });
  rtr = lab.nsPath(lab.ns.router);
  mac.pub0 = linkMac(lab.ns.router, 'pub0');
  mac.priv0 = linkMac(lab.ns.router, 'priv0');
  mac.client = linkMac(lab.ns.client, 'eth0');
  mac.rs1 = linkMac(lab.ns.reals[0]!, 'eth0');
  // Resolved neighbours, so bpf_fib_lookup answers SUCCESS (with MACs) rather than NO_NEIGH.
  execFileSync('ip', ['-n', lab.ns.router, 'neigh', 'replace', REAL, 'lladdr', mac.rs1, 'dev', 'priv0', 'nud', 'permanent']);
  execFileSync('ip', ['-n', lab.ns.router, 'neigh', 'replace', CLIENT, 'lladdr', mac.client, 'dev', 'pub0', 'nud', 'permanent']);

  const id = `${process.pid}-${randomBytes(4).toString('hex')}`;
  dp = TestDataplane.load(join(ROOT, 'build/xlvs.bpf.o'), `/sys/fs/bpf/xlvs-test-${id}`);
  await new Reconciler(dp.maps, log).apply(desired([
    service(VIP, 80, 'tcp', 'rr', [{ address: REAL, port: 8080 }]),
    service(VIP, 5353, 'udp', 'rr', [{ address: REAL, port: 5353 }]),
  ]));
  passPin = `/sys/fs/bpf/xlvs-test-${id}-pass`;
  ensureBpffs(passPin);
  pass = BpfObject.open(join(ROOT, 'build/xlvs_pass.bpf.o'), { pinRoot: passPin });
  pass.load();
});

after(async () => {
  for (const done of [() => dp?.close(), () => pass?.close(), () => passPin && unpin(passPin)]) {
    try {
      done();
    } catch (e) {
      console.error('cleanup step failed', e);
    }
  }
  await lab?.destroy();
});

const toVip = (l4: Extract<FrameSpec['l3'], { kind: 'ipv4' }>['l4'], extra: object = {}): FrameSpec => ({
  eth: { src: mac.client, dst: mac.pub0 },
  l3: { kind: 'ipv4', src: CLIENT, dst: VIP, id: 7, df: true, ttl: 64, l4, ...extra },
});

test('xlvs_pass: XDP_PASS with the frame unchanged; repeat gives an average duration; bad input is refused', async () => {
  const fd = pass.programFd('xlvs_pass');
  const frame = buildFrame(toVip({ kind: 'tcp', sport: 1000, dport: 80, flags: 'SYN' }));
  const r = runXdp(fd, frame, { repeat: 10_000 });
  assert.equal(r.verdict, XDP.PASS);
  assert.equal(verdictName(r.verdict), 'XDP_PASS');
  assert.deepEqual(r.out, frame);
  assert.ok(r.durationNs > 0 && r.durationNs < 100_000, `average ${r.durationNs} ns per run`);
  assert.throws(() => runXdp(fd, frame, { repeat: 0 }), InvalidArgumentError);
  assert.throws(() => runXdp(fd, frame.subarray(0, 10)), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'length');
  // an ifindex that does not exist in this namespace: the kernel says ENODEV
  assert.throws(() => runXdp(fd, frame, { ingressIfindex: 0x7ffffff0 }), (e: unknown) => e instanceof BpfError && e.errno === 19 && /bpf_prog_test_run_opts/.test(e.message));
  // pub0 exists only in the router's namespace
  const pub0 = ifindexIn(rtr, 'pub0');
  assert.deepEqual(inNetns(rtr, () => runXdp(fd, frame, { ingressIfindex: pub0 }).ctx), { ingressIfindex: pub0, rxQueueIndex: 0 });
});

test('fixtures on xlvs_public/xlvs_private: non-VIP traffic passes untouched; VIP traffic is NATed and redirected with FIB MACs', async () => {
  const runner = new FixtureRunner({ xlvs_public: dp.progFd('xlvs_public'), xlvs_private: dp.progFd('xlvs_private') }, { netns: rtr });
  const pub = (name: string, input: FrameSpec, expect: Fixture['expect']): Fixture => ({ name, prog: 'xlvs_public', ingress: 'pub0', input, expect });
  const unchanged = { verdict: 'XDP_PASS', frame: 'unchanged' } as const;
  const results = runner.check([
    pub('udp to another address', { ...toVip({ kind: 'udp', sport: 1, dport: 5353 }), l3: { kind: 'ipv4', src: CLIENT, dst: '203.0.113.1', l4: { kind: 'udp', sport: 1, dport: 5353 } } }, unchanged),
    pub('tcp to the VIP on a port without service', toVip({ kind: 'tcp', sport: 1000, dport: 81, flags: 'SYN' }), unchanged),
    pub('udp to the VIP port 80 (the service is tcp)', toVip({ kind: 'udp', sport: 1000, dport: 80 }), unchanged),
    pub('icmp echo to the VIP is answered in place', toVip({ kind: 'icmp', type: 8, id: 1, seq: 1 }), {
      verdict: 'XDP_TX',
      frame: (f) => {
        assert.equal(f.eth.dst, mac.client);
        const ip = f.l3;
        if (ip?.kind !== 'ipv4') return assert.fail(`not an IPv4 reply: ${JSON.stringify(ip)}`);
        assert.equal(ip.src, VIP);
        assert.equal(ip.dst, CLIENT);
        assert.ok(ip.l4.kind === 'icmp' && ip.l4.type === 0, `not an echo reply: ${JSON.stringify(ip.l4)}`);
      },
    }),
    pub('first fragment to VIP:80 is dropped (fragments are not reassembled)', toVip({ kind: 'tcp', sport: 1000, dport: 80, flags: 'SYN' }, { mf: true }), { verdict: 'XDP_DROP' }),
    pub('tcp header cut short', { eth: { src: mac.client, dst: mac.pub0 }, l3: { kind: 'ipv4', src: CLIENT, dst: VIP, l4: { kind: 'raw', proto: 6, data: Buffer.from('03e80050', 'hex') } } }, unchanged),
    pub('ipv6 tcp', { l3: { kind: 'ipv6', src: '2001:db8::2', dst: '2001:db8::100', l4: { kind: 'tcp', sport: 1, dport: 80, flags: 'SYN' } } }, unchanged),
    pub('tcp without SYN and without flow is dropped', toVip({ kind: 'tcp', sport: 1001, dport: 80, flags: 'ACK' }), { verdict: 'XDP_DROP' }),
    pub('SYN to VIP:80 -> DNAT to the real, out of priv0', toVip({ kind: 'tcp', sport: 1002, dport: 80, seq: 5, flags: 'SYN' }), {
      verdict: 'XDP_REDIRECT',
      frame: { eth: { src: mac.priv0, dst: mac.rs1 }, l3: { kind: 'ipv4', src: CLIENT, dst: REAL, id: 7, df: true, ttl: 63, l4: { kind: 'tcp', sport: 1002, dport: 8080, seq: 5, flags: 'SYN' } } },
    }),
    pub('udp to VIP:5353 -> DNAT, payload intact', toVip({ kind: 'udp', sport: 4000, dport: 5353, payload: Buffer.from('question') }), {
      verdict: 'XDP_REDIRECT',
      frame: { eth: { src: mac.priv0, dst: mac.rs1 }, l3: { kind: 'ipv4', src: CLIENT, dst: REAL, id: 7, df: true, ttl: 63, l4: { kind: 'udp', sport: 4000, dport: 5353, payload: Buffer.from('question') } } },
    }),
    {
      name: 'the real\'s SYN-ACK -> SNAT to VIP:80, out of pub0 to the client',
      prog: 'xlvs_private',
      ingress: 'priv0',
      input: { eth: { src: mac.rs1, dst: mac.priv0 }, l3: { kind: 'ipv4', src: REAL, dst: CLIENT, ttl: 64, l4: { kind: 'tcp', sport: 8080, dport: 1002, seq: 900, ack: 6, flags: 'SYN,ACK' } } },
      expect: {
        verdict: 'XDP_REDIRECT',
        frame: { eth: { src: mac.pub0, dst: mac.client }, l3: { kind: 'ipv4', src: VIP, dst: CLIENT, ttl: 63, l4: { kind: 'tcp', sport: 80, dport: 1002, seq: 900, ack: 6, flags: 'SYN,ACK' } } },
      },
    },
    {
      name: 'traffic of the real that no flow knows passes untouched',
      prog: 'xlvs_private',
      ingress: 'priv0',
      input: { eth: { src: mac.rs1, dst: mac.priv0 }, l3: { kind: 'ipv4', src: REAL, dst: '198.51.100.9', l4: { kind: 'udp', sport: 123, dport: 123 } } },
      expect: { verdict: 'XDP_PASS', frame: 'unchanged' },
    },
    pub('a function expectation sees the parsed output', toVip({ kind: 'tcp', sport: 1002, dport: 80, seq: 6, flags: 'ACK' }), {
      verdict: 'XDP_REDIRECT',
      frame: (p) => {
        const ip = p.l3 as ParsedIpv4;
        assert.equal(ip.dst, REAL);
        assert.equal((ip.l4 as ParsedTcp).dport, 8080, 'the established flow carries the ACK');
      },
    }),
  ]);
  assert.equal(results.length, 13);
});

test('a fixture whose expectation is wrong fails with a readable, field-by-field report', async () => {
  const runner = new FixtureRunner({ xlvs_public: dp.progFd('xlvs_public') }, { netns: rtr });
  const input = toVip({ kind: 'tcp', sport: 1003, dport: 80, flags: 'SYN' });
  assert.throws(
    () => runner.check([
      { name: 'wrong ttl and port', prog: 'xlvs_public', ingress: 'pub0', input, expect: { verdict: 'XDP_REDIRECT', frame: { eth: { src: mac.priv0, dst: mac.rs1 }, l3: { kind: 'ipv4', src: CLIENT, dst: REAL, id: 7, df: true, ttl: 64, l4: { kind: 'tcp', sport: 1003, dport: 8081, flags: 'SYN' } } } } },
      { name: 'wrong verdict', prog: 'xlvs_public', ingress: 'pub0', input: toVip({ kind: 'udp', sport: 1, dport: 9 }), expect: { verdict: 'XDP_DROP' } },
      { name: 'a passing fixture is not listed', prog: 'xlvs_public', ingress: 'pub0', input: toVip({ kind: 'udp', sport: 1, dport: 9 }), expect: { verdict: 'XDP_PASS', frame: 'unchanged' } },
    ]),
    (e: unknown) => {
      assert.ok(e instanceof FixtureError, String(e));
      assert.equal(e.code, 'E_FIXTURE');
      assert.equal(e.failed.length, 2, e.message);
      assert.match(e.message, /2 of 3 fixtures failed/);
      assert.match(e.message, /l3\.ttl: expected 64 \(0x40\), got 63 \(0x3f\)/);
      assert.match(e.message, /l3\.l4\.dport: expected 8081 \(0x1f91\), got 8080 \(0x1f90\)/);
      assert.match(e.message, /l3\.l4\.checksum: expected \d+ \(0x[0-9a-f]+\), got/);
      assert.match(e.message, /wrong verdict \(verdict XDP_PASS\):\n\s+verdict: expected XDP_DROP, got XDP_PASS/);
      return true;
    },
  );
  // A program that breaks a checksum is caught even when the fields are right.
  const runnerPass = new FixtureRunner({ p: pass.programFd('xlvs_pass') });
  const bad = buildFrame(toVip({ kind: 'udp', sport: 1, dport: 9 }));
  const r = runnerPass.runAll([{ name: 'input with a broken checksum stays as it was', prog: 'p', input: bad, expect: { verdict: 'XDP_PASS', frame: 'unchanged' } }]);
  assert.deepEqual(r[0]!.problems, []);
});

function sameBytes(a: Buffer, b: Buffer, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

test('fuzz smoke: 200,000 frames through xlvs_public; every verdict is PASS/DROP/TX/REDIRECT and non-VIP frames pass unchanged', async (t) => {
  const seed = 0x5eed0001;
  const fuzz = new FrameFuzzer({ seed, targets: [VIP] });
  const runner = new XdpTestRunner(dp.progFd('xlvs_public'));
  const pub0 = ifindexIn(rtr, 'pub0');
  const counts = [0, 0, 0, 0, 0];
  const N = 200_000;
  const vipBytes = Buffer.from(VIP.split('.').map(Number));
  const t0 = Date.now();
  const failure = inNetns(rtr, (): string | undefined => {
    for (let i = 0; i < N; i++) {
      const len = fuzz.next();
      const v = runner.run(fuzz.buf, len, { ingressIfindex: pub0 });
      if (v > XDP.REDIRECT || v === XDP.ABORTED) return `verdict ${verdictName(v)}`;
      counts[v]!++;
      // Anything not aimed at the VIP (IPv4 destination bytes) must come back as it went in.
      const aimed = len >= 34 && fuzz.buf.readUInt16BE(12) === 0x0800 && sameBytes(fuzz.buf.subarray(30), vipBytes, 4);
      if (!aimed && (v !== XDP.PASS || runner.outLength !== len || !sameBytes(fuzz.buf, runner.out, len))) return `non-VIP frame: verdict ${verdictName(v)}, output ${runner.outLength} bytes`;
    }
    return undefined;
  });
  const where = failure === undefined ? '' : `seed ${seed} frame #${fuzz.index} (${fuzz.kind}): ${failure}: ${fuzz.buf.subarray(0, fuzz.length).toString('hex')}`;
  assert.equal(failure, undefined, where);
  assert.equal(counts.reduce((a, b) => a + b, 0), N);
  t.diagnostic(`seed ${seed}: verdicts ${counts.map((c, v) => `${verdictName(v)}=${c}`).join(' ')} in ${Date.now() - t0} ms`);
  assert.ok(counts[XDP.REDIRECT]! > 1000 && counts[XDP.DROP]! > 100 && counts[XDP.PASS]! > 100_000, `verdicts ${JSON.stringify(counts)} in ${Date.now() - t0} ms`);
});
