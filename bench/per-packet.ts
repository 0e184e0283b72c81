// SPDX-License-Identifier: Apache-2.0
// Per-packet cost of xlvs's XDP programs against a floor (bpf/bench_floor.bpf.c), measured with
// BPF_PROG_TEST_RUN in a lab router namespace: the "per-packet" section of `make bench`.
//
// Why two methods: with repeat > 1 the kernel runs the program again on the frame the previous
// run left (it does not restore the input), so a NAT program sees its own output from the second
// run on (measured here: an established flow's ACK comes back XDP_PASS after repeat 2, the
// non-VIP path). Only cases whose output runs the same path again can use repeat: the floor
// (MACs swapped back and forth) and the non-VIP packet (passed unchanged); each is checked.
// Every other case runs `calls` times with repeat 1 on a fresh copy of its frame; the kernel
// times each call, and the call's fixed overhead (timer reads, setup) is taken out as measured
// on the floor in the same run: ns = median(call) - (median(floor call) - floor repeat ns).
// New flows are N distinct SYNs (source ports 1024..), each opening a flow; flows are deleted
// between runs.

import type pino from 'pino';
import { XdpTestRunner, inNetns, verdictName } from '../src/bpf/test-run.js';
import { buildFrame, parseFrame, type ParsedIpv4, type ParsedTcp } from '../src/testing/frames.js';
import { InvalidArgumentError, XlvsError } from '../src/errors.js';
import { PerPacketEnv, VIP, CLIENT, SCHED_PORTS } from './per-packet-env.js';
import { median, spread } from './stats.js';
import type { Section, SectionRunner } from './section.js';

export class BenchError extends XlvsError {
  constructor(message: string) {
    super('E_BENCH', message);
  }
}

export interface PerPacketOptions {
  repeat: number;
  runs: number;
  calls: number;
  log: pino.Logger;
}

export interface CaseFigure {
  /** Stable identifier: floor, established, return, non-vip, new-rr, new-wlc, new-mh. */
  name: string;
  program: string;
  verdict: string;
  /** repeat: the kernel's average over `repeat` runs of one frame; per-call: see PerPacketResult.method. */
  method: 'repeat' | 'per-call';
  what: string;
  runsNs: number[];
  medianNs: number;
  minNs: number;
  maxNs: number;
  /** medianNs / the floor's medianNs. */
  ratio: number;
}

export interface PerPacketResult {
  config: { repeat: number; runs: number; calls: number };
  method: string[];
  cases: CaseFigure[];
}

/** Bound on one series of calls, so a wedged run fails instead of hanging. */
const SERIES_DEADLINE_MS = 60_000;
const FIRST_SPORT = 1024;
const ESTABLISHED_SPORT = 1000;

interface Series {
  name: string;
  program: string;
  verdict: string;
  method: 'repeat' | 'per-call';
  what: string;
  /** One run's figure in ns (for per-call: the median call, uncorrected). */
  measure(): number;
}

function check(what: string, got: number, want: string): void {
  if (verdictName(got) !== want) throw new BenchError(`${what}: verdict ${verdictName(got)}, expected ${want}`);
}

function sameBytes(a: Buffer, b: Buffer, n: number): boolean {
  if (a.length !== n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function validate(o: PerPacketOptions): void {
  if (!Number.isInteger(o.repeat) || o.repeat < 1 || o.repeat > 0x7fffffff) throw new InvalidArgumentError('repeat', o.repeat, 'must be an integer 1..2^31-1');
  if (!Number.isInteger(o.runs) || o.runs < 1 || o.runs > 1000) throw new InvalidArgumentError('runs', o.runs, 'must be an integer 1..1000');
  if (!Number.isInteger(o.calls) || o.calls < 1 || o.calls > 65535 - FIRST_SPORT) throw new InvalidArgumentError('calls', o.calls, `must be an integer 1..${65535 - FIRST_SPORT} (one source port per new flow)`);
}

export async function runPerPacket(o: PerPacketOptions): Promise<PerPacketResult> {
  validate(o);
  const env = await PerPacketEnv.create(o.log);
  try {
    return inNetns(env.rtr, () => measureAll(env, o));
  } finally {
    await env.close(o.log);
  }
}

function measureAll(env: PerPacketEnv, o: PerPacketOptions): PerPacketResult {
  const { macs } = env;
  const pub = new XdpTestRunner(env.dp.progFd('xlvs_public'));
  const priv = new XdpTestRunner(env.dp.progFd('xlvs_private'));
  const floor = new XdpTestRunner(env.floorFd);
  const toVip = (sport: number, dport: number, flags: string): Buffer => buildFrame({
    eth: { src: macs.client, dst: macs.pub0 },
    l3: { kind: 'ipv4', src: CLIENT, dst: VIP, id: 7, df: true, ttl: 64, l4: { kind: 'tcp', sport, dport, seq: 1, ack: flags.includes('ACK') ? 1 : 0, flags } },
  });
  const ack = toVip(ESTABLISHED_SPORT, 80, 'ACK');
  const nonVip = buildFrame({ eth: { src: macs.client, dst: macs.pub0 }, l3: { kind: 'ipv4', src: CLIENT, dst: '203.0.113.1', ttl: 64, l4: { kind: 'udp', sport: 4000, dport: 53, payload: Buffer.alloc(18) } } });
  // Pre-built SYNs per scheduler: frame building stays out of the loop (it is not timed anyway).
  const syns = SCHED_PORTS.map(({ port }) => Array.from({ length: o.calls }, (_, i) => toVip(FIRST_SPORT + i, port, 'SYN')));

  /** Clears flows, opens the established flow and returns the real's reply to it. */
  const openEstablished = (): Buffer => {
    env.clearFlows();
    check('SYN opening the established flow', pub.run(toVip(ESTABLISHED_SPORT, 80, 'SYN'), undefined, { ingressIfindex: env.pub0 }), 'XDP_REDIRECT');
    const ip = parseFrame(pub.out.subarray(0, pub.outLength)).l3 as ParsedIpv4;
    const tcp = ip.l4 as ParsedTcp;
    return buildFrame({ eth: { src: macs.rs1, dst: macs.priv0 }, l3: { kind: 'ipv4', src: ip.dst, dst: CLIENT, ttl: 64, l4: { kind: 'tcp', sport: tcp.dport!, dport: ESTABLISHED_SPORT, seq: 9, ack: 2, flags: 'ACK' } } });
  };

  const repeated = (r: XdpTestRunner, frame: Buffer, ifindex: number, want: string, name: string): number => {
    // The output of one run must be what the next run sees the same way: compare repeat 1 and 2.
    check(`${name} (repeat 1)`, r.run(frame, undefined, { ingressIfindex: ifindex }), want);
    const once = Buffer.alloc(r.outLength);
    for (let i = 0; i < r.outLength; i++) once[i] = r.out[i]!;
    check(`${name} (repeat ${o.repeat})`, r.run(frame, undefined, { ingressIfindex: ifindex, repeat: o.repeat }), want);
    const ns = r.durationNs;
    if (o.repeat % 2 === 1 && !sameBytes(once, r.out, r.outLength)) throw new BenchError(`${name}: repeat ${o.repeat} left a different frame than repeat 1; the runs did not take the same path`);
    return ns;
  };
  const perCall = (r: XdpTestRunner, frames: (i: number) => Buffer, ifindex: number, want: string, name: string): number => {
    const ns = new Float64Array(o.calls);
    const deadline = Date.now() + SERIES_DEADLINE_MS;
    for (let i = 0; i < o.calls; i++) {
      check(`${name} call ${i}`, r.run(frames(i), undefined, { ingressIfindex: ifindex }), want);
      ns[i] = r.durationNs;
      if ((i & 1023) === 1023 && Date.now() > deadline) throw new BenchError(`${name}: ${i + 1} of ${o.calls} calls took over ${SERIES_DEADLINE_MS} ms`);
    }
    return median(ns);
  };

  let reply = openEstablished();
  const series: Series[] = [
    { name: 'floor', program: 'xlvs_bench_floor', verdict: 'XDP_TX', method: 'repeat', what: 'the floor program on the established flow\'s ACK frame (parse Ethernet + IPv4, swap MACs, XDP_TX).', measure: () => repeated(floor, ack, env.pub0, 'XDP_TX', 'floor') },
    { name: 'floor-call', program: 'xlvs_bench_floor', verdict: 'XDP_TX', method: 'per-call', what: 'the floor, one call per frame: the per-call figure whose excess over "floor" is the fixed overhead taken out of every per-call case (not corrected itself).', measure: () => perCall(floor, () => ack, env.pub0, 'XDP_TX', 'floor-call') },
    { name: 'non-vip', program: 'xlvs_public', verdict: 'XDP_PASS', method: 'repeat', what: 'UDP to the router\'s own address (not a VIP) on pub0: passed to the kernel unchanged.', measure: () => repeated(pub, nonVip, env.pub0, 'XDP_PASS', 'non-vip') },
    { name: 'established', program: 'xlvs_public', verdict: 'XDP_REDIRECT', method: 'per-call', what: `client's ACK on an established NAT flow (rr service ${VIP}:80, 4 reals): flow lookup, DNAT, FIB lookup, redirect out of priv0.`, measure: () => perCall(pub, () => ack, env.pub0, 'XDP_REDIRECT', 'established') },
    { name: 'return', program: 'xlvs_private', verdict: 'XDP_REDIRECT', method: 'per-call', what: 'the real\'s ACK back to the client on priv0: reply-entry lookup, SNAT to the VIP, FIB lookup, redirect out of pub0.', measure: () => perCall(priv, () => reply, env.priv0, 'XDP_REDIRECT', 'return') },
    ...SCHED_PORTS.map(({ scheduler, port }, s): Series => ({
      name: `new-${scheduler}`, program: 'xlvs_public', verdict: 'XDP_REDIRECT', method: 'per-call',
      what: `a SYN opening a new flow on the ${scheduler} service ${VIP}:${port} (4 reals): service lookup, ${scheduler} scheduling, two flow entries created, DNAT, FIB lookup, redirect. ${o.calls} distinct source ports per run.`,
      measure: () => perCall(pub, (i) => syns[s]![i]!, env.pub0, 'XDP_REDIRECT', `new-${scheduler}`),
    })),
  ];

  const runs = new Map<string, number[]>(series.map((x) => [x.name, []]));
  for (let run = 0; run < o.runs; run++) {
    if (run > 0) reply = openEstablished();
    for (const x of series) runs.get(x.name)!.push(x.measure());
    o.log.info({ run: run + 1, of: o.runs }, 'per-packet run done');
  }

  const floorRuns = runs.get('floor')!;
  const overhead = runs.get('floor-call')!.map((c, i) => c - floorRuns[i]!);
  const floorMedian = median(floorRuns);
  const cases: CaseFigure[] = series.map((x) => {
    const raw = runs.get(x.name)!;
    const corrected = x.method === 'per-call' && x.name !== 'floor-call' ? raw.map((v, i) => v - overhead[i]!) : raw;
    const s = spread(corrected);
    return { name: x.name, program: x.program, verdict: x.verdict, method: x.method, what: x.what, runsNs: corrected, medianNs: s.median, minNs: s.min, maxNs: s.max, ratio: s.median / floorMedian };
  });
  return {
    config: { repeat: o.repeat, runs: o.runs, calls: o.calls },
    method: [
      'All runs on one thread inside the lab router namespace (real pub0/priv0 ifindexes, FIB with permanent neighbours).',
      `"repeat" cases: one BPF_PROG_TEST_RUN with repeat ${o.repeat}; the kernel's average ns per run. Only for cases whose`,
      'output takes the same path again (checked: verdicts, and an odd repeat leaves the same frame as repeat 1): the kernel',
      'does not restore the input between repeats, so a NAT program would measure its own output from the second run on.',
      `"per-call" cases: ${o.calls} calls with repeat 1, each on a fresh copy of the frame, timed by the kernel; the run's figure`,
      'is the median call minus the fixed per-call overhead measured in the same run as median(floor-call) - floor.',
      'Caveat: between per-call runs a syscall and the JS loop disturb the caches; the correction removes only the floor\'s share,',
      'so per-call figures (and their ratios) overstate a warm steady state; they compare with each other, not with repeat figures.',
      'New flows: distinct SYNs (one source port each), every one checked to open a flow (XDP_REDIRECT); flows deleted between runs.',
    ],
    cases,
  };
}

const FULL = { repeat: 1_000_000, runs: 7, calls: 20_000 };
const SMOKE = { repeat: 1000, runs: 1, calls: 200 };

export function perPacketSection(r: PerPacketResult, seconds: number): Section {
  const n = (x: number): string => x.toFixed(1);
  return {
    id: 'per-packet',
    title: 'Per-packet cost (BPF_PROG_TEST_RUN)',
    command: 'node dist/bench/run.js --only per-packet',
    setup: [
      `- ${r.config.runs} runs per case, cases alternating within each run; repeat ${r.config.repeat} per run for "repeat" cases, ${r.config.calls} calls per run for "per-call" cases.`,
      '- Median of the runs, spread min – max; × floor = median / the floor\'s median.',
    ],
    tables: [{
      columns: ['case', 'program', 'verdict', 'method', 'ns/packet', 'spread (ns)', '× floor'],
      rows: r.cases.map((c) => [c.name, c.program, c.verdict, c.method, n(c.medianNs), `${n(c.minNs)} – ${n(c.maxNs)}`, c.ratio.toFixed(2)]),
    }],
    notes: [...r.method, '', ...r.cases.map((c) => `- **${c.name}**: ${c.what}`)],
    data: r,
    seconds,
  };
}

export const perPacket: SectionRunner = {
  id: 'per-packet',
  title: 'Per-packet cost',
  async run({ log, smoke }) {
    const t0 = Date.now();
    const r = await runPerPacket({ ...(smoke ? SMOKE : FULL), log });
    for (const c of r.cases) log.info({ case: c.name, ns: c.medianNs, min: c.minNs, max: c.maxNs, ratio: Number(c.ratio.toFixed(2)) }, 'per-packet');
    return perPacketSection(r, (Date.now() - t0) / 1000);
  },
};
