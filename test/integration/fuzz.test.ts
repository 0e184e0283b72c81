// SPDX-License-Identifier: Apache-2.0
// One million fuzzed frames (seeded; see testing/fuzz.ts) through xlvs_public with two
// services configured, run in a lab router namespace with the real's neighbour resolved.
// Properties, checked on every frame:
//   - the verdict is XDP_PASS, XDP_DROP, XDP_TX or XDP_REDIRECT (never ABORTED or unknown);
//   - a frame not aimed at the VIP (IPv4 destination bytes) passes with its bytes unchanged;
//   - a frame the program rewrote keeps a valid IPv4 header checksum if it came in with one.
//   - no frame creates a flow unless it may open one: a TCP SYN (no ACK) to VIP:80 or a UDP
//     datagram to VIP:5353, with intact headers (checked on every frame against the services'
//     new-connection counters);
// And the program's own accounting agrees with what we saw: every frame is counted exactly once,
// in the drops map (= the XDP_DROP verdicts) or the events map (forwarded and translated ICMP errors = XDP_REDIRECT, echo
// replies, too-big errors and eviction resets = XDP_TX, passed untouched or handed over translated = XDP_PASS).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Lab } from '../../lab/lab.js';
import { inNetns, ifindexIn, XdpTestRunner, XDP, verdictName } from '../../src/kernel/test-run.js';
import { TestDataplane } from '../../testing/fixture.js';
import { FrameFuzzer, FUZZ_KINDS, replay, type FuzzOptions } from '../../testing/fuzz.js';
import { sum16, verifies } from '../../testing/frame-checksum.js';
import { Reconciler } from '../../src/dataplane/reconcile.js';
import { XLVS_DROP_MAX, XLVS_EVENT } from '../../src/gen/abi.js';
import { desired, service } from '../../testing/desired.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const VIP = '203.0.113.100';
const REAL = '10.77.0.11';
const FRAMES = 1_000_000;
const TIME_LIMIT_MS = 120_000;

let lab: Lab;
let dp: TestDataplane;

before(async () => {
  lab = await Lab.create({ reals: 1 });
  const rs1Mac = (JSON.parse(execFileSync('ip', ['-n', lab.ns.reals[0]!, '-j', 'link', 'show', 'dev', 'eth0'], { encoding: 'utf8' })) as Array<{ address: string }>)[0]!.address;
  execFileSync('ip', ['-n', lab.ns.router, 'neigh', 'replace', REAL, 'lladdr', rs1Mac, 'dev', 'priv0', 'nud', 'permanent']);
  dp = TestDataplane.load(join(ROOT, 'build/xlvs.bpf.o'), `/sys/fs/bpf/xlvs-test-${process.pid}-${randomBytes(4).toString('hex')}`);
  await new Reconciler(dp.maps, pino({ level: 'warn' }, pino.destination(2))).apply(desired([
    service(VIP, 80, 'tcp', 'rr', [{ address: REAL, port: 8080 }]),
    service(VIP, 5353, 'udp', 'rr', [{ address: REAL, port: 5353 }]),
  ]));
});

after(async () => {
  try {
    dp?.close();
  } catch (e) {
    console.error('data plane cleanup failed', e);
  }
  await lab?.destroy();
});

function drops(): bigint[] {
  return Array.from({ length: XLVS_DROP_MAX }, (_, r) => (dp.maps.drops.lookup(r) ?? []).reduce((a, b) => a + b, 0n));
}

function events(): bigint[] {
  return Array.from({ length: XLVS_EVENT.MAX }, (_, e) => (dp.maps.events.lookup(e) ?? []).reduce((a, b) => a + b, 0n));
}

/** New connections scheduled, over both services (ids 0 and 1 on a fresh data plane). */
function conns(): bigint {
  let n = 0n;
  for (const id of [0, 1]) for (const c of dp.maps.svcStats.lookup(id) ?? []) n += c.conns;
  return n;
}

/** A frame that may open a flow: an unfragmented IPv4 TCP SYN (no ACK) to VIP:80 or UDP to
 * VIP:5353, whose IPv4 length fits the frame and whose transport header is complete. */
function mayOpen(b: Buffer, len: number, vip: Buffer): boolean {
  if (len < 34 || b.readUInt16BE(12) !== 0x0800 || !same(b.subarray(30), vip, 4)) return false;
  const hl = (b[14]! & 0x0f) * 4;
  if (b[14]! >> 4 !== 4 || hl < 20 || (b.readUInt16BE(20) & 0x3fff) !== 0) return false;
  const tot = b.readUInt16BE(16);
  if (tot < hl || 14 + tot > len) return false;
  const l4 = 14 + hl;
  if (b[23] === 6) return l4 + 20 <= len && b.readUInt16BE(l4 + 2) === 80 && (b[l4 + 12]! >> 4) >= 5 && (b[l4 + 13]! & 0x12) === 0x02;
  if (b[23] === 17) return l4 + 8 <= len && b.readUInt16BE(l4 + 2) === 5353;
  return false;
}

function same(a: Buffer, b: Buffer, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** An IPv4 frame whose header (by its own ihl) is there and sums right. */
function ipv4HeaderValid(b: Buffer, len: number): boolean {
  if (len < 34 || b.readUInt16BE(12) !== 0x0800) return false;
  const hl = (b[14]! & 0x0f) * 4;
  return hl >= 20 && 14 + hl <= len && verifies(sum16(b, 14, 14 + hl));
}

test(`${FRAMES} fuzzed frames through xlvs_public: verdicts, untouched non-VIP frames, checksums and the program's own counters`, async (t) => {
  const opts: FuzzOptions = { seed: 0x1f00d5, targets: [VIP] };
  const fuzz = new FrameFuzzer(opts);
  const runner = new XdpTestRunner(dp.progFd('xlvs_public'));
  const pub0 = ifindexIn(lab.nsPath(lab.ns.router), 'pub0');
  const vip = Buffer.from(VIP.split('.').map(Number));
  const verdicts = [0, 0, 0, 0, 0];
  const byKind = Object.fromEntries(FUZZ_KINDS.map((k) => [k, [0, 0, 0, 0, 0]])) as Record<string, number[]>;
  let rewrittenPass = 0;
  let checkedChecksums = 0;
  const drops0 = drops();
  const events0 = events();
  let opened = 0n;
  let candidates = 0;
  const t0 = Date.now();

  const failure = inNetns(lab.nsPath(lab.ns.router), (): string | undefined => {
    for (let i = 0; i < FRAMES; i++) {
      if ((i & 0xffff) === 0 && Date.now() - t0 > TIME_LIMIT_MS) return `time limit: only ${i} frames in ${TIME_LIMIT_MS} ms`;
      const len = fuzz.next();
      const b = fuzz.buf;
      const inValid = ipv4HeaderValid(b, len);
      const may = mayOpen(b, len, vip);
      if (may) candidates++;
      const v = runner.run(b, len, { ingressIfindex: pub0 });
      const c = conns();
      if (c !== opened && !may) return `created a flow (conns ${opened} -> ${c}) from a frame that may not open one`;
      opened = c;
      if (v === XDP.ABORTED || v > XDP.REDIRECT) return `verdict ${verdictName(v)}`;
      verdicts[v]!++;
      byKind[fuzz.kind]![v]!++;
      const unchanged = runner.outLength === len && same(b, runner.out, len);
      const aimed = len >= 34 && b.readUInt16BE(12) === 0x0800 && same(b.subarray(30), vip, 4);
      if (!aimed && (v !== XDP.PASS || !unchanged)) return `not aimed at the VIP, yet verdict ${verdictName(v)}${unchanged ? '' : ' and bytes changed'}`;
      if (v === XDP.PASS && !unchanged) rewrittenPass++;
      if (v !== XDP.DROP && (v === XDP.REDIRECT || !unchanged) && inValid) {
        checkedChecksums++;
        if (!ipv4HeaderValid(runner.out, runner.outLength)) return 'a valid IPv4 header checksum came out invalid';
      }
    }
    return undefined;
  });
  if (failure !== undefined) {
    const { kind, frame } = replay(opts, fuzz.index);
    assert.fail(`seed ${opts.seed} frame #${fuzz.index} (${kind}): ${failure}\n  input ${frame.toString('hex')}\n  output ${runner.out.subarray(0, runner.outLength).toString('hex')}`);
  }
  const ms = Date.now() - t0;
  t.diagnostic(`seed ${opts.seed}: ${FRAMES} frames in ${ms} ms; ${verdicts.map((c, v) => `${verdictName(v)}=${c}`).join(' ')}; rewritten PASS ${rewrittenPass}; checksums checked ${checkedChecksums}`);
  t.diagnostic(`by kind [aborted, drop, pass, tx, redirect]: ${JSON.stringify(byKind)}`);

  assert.equal(verdicts.reduce((a, b) => a + b, 0), FRAMES);
  // The fuzzer reached every path: many redirects, drops, passes; every kind of frame ran.
  assert.ok(verdicts[XDP.REDIRECT]! > 10_000 && verdicts[XDP.DROP]! > 100 && verdicts[XDP.PASS]! > 500_000, JSON.stringify(verdicts));
  for (const k of FUZZ_KINDS) assert.ok(byKind[k]!.reduce((a, b) => a + b, 0) > 100_000, `${k} frames: ${byKind[k]}`);
  assert.ok(checkedChecksums > 10_000, `${checkedChecksums} rewritten frames had their IPv4 checksum checked`);

  const dropped = drops().map((d, r) => d - drops0[r]!);
  const ev = events().map((e, i) => e - events0[i]!);
  t.diagnostic(`drops ${dropped.join(',')}; events ${ev.join(',')}; flows opened ${opened} of ${candidates} candidates`);
  assert.equal(dropped.reduce((a, b) => a + b, 0n) + ev.reduce((a, b) => a + b, 0n), BigInt(FRAMES), 'every frame counted exactly once');
  assert.equal(dropped.reduce((a, b) => a + b, 0n), BigInt(verdicts[XDP.DROP]!), `drops map ${dropped} vs XDP_DROP verdicts ${verdicts[XDP.DROP]}`);
  assert.equal(ev[XLVS_EVENT.FWD]! + ev[XLVS_EVENT.ICMP_XLATE]!, BigInt(verdicts[XDP.REDIRECT]!), 'forwarded + ICMP errors translated = XDP_REDIRECT');
  assert.equal(
    ev[XLVS_EVENT.ICMP_ECHO]! + ev[XLVS_EVENT.ICMP_TOO_BIG]! + ev[XLVS_EVENT.ICMP_TIME_EXCEEDED]! + ev[XLVS_EVENT.EVICT_RST]!,
    BigInt(verdicts[XDP.TX]!),
    'echo replies + too-big and time-exceeded errors + eviction resets = XDP_TX',
  );
  assert.equal(ev[XLVS_EVENT.PASS]! + ev[XLVS_EVENT.FWD_KERNEL]!, BigInt(verdicts[XDP.PASS]!), 'passed + handed over translated = XDP_PASS');
  assert.ok(ev[XLVS_EVENT.FWD_KERNEL]! >= BigInt(rewrittenPass), `${rewrittenPass} frames passed rewritten, ${ev[XLVS_EVENT.FWD_KERNEL]} counted so`);
  assert.ok(opened > 1000n, `only ${opened} flows opened`);
});
