// SPDX-License-Identifier: Apache-2.0
// Per-packet cost of xlvs's XDP programs against a floor (bench/bpf/bench_floor.bpf.c), measured with
// BPF_PROG_TEST_RUN in a lab router namespace: the "per-packet" section of `make bench`.
//
// Every case is one BPF_PROG_TEST_RUN with `repeat`, the kernel's average ns per run. The kernel
// does not restore the input frame between repeats, so a program that rewrites its packet (every
// NAT case) would see its own output from the second run on. Those cases run behind
// bench/bpf/bench_restore.bpf.c (bench/per-packet/restore.ts): each run writes the frame back from a template, for
// new flows with the next source port, then tail-calls the program under test. The floor is
// measured both bare and behind the same wrapper in the same run, so the wrapper's cost is known
// and taken out: ns(case) = wrapped(case) - (wrapped(floor) - floor).

import type pino from 'pino';
import { XdpTestRunner, inNetns, verdictName } from '../../src/kernel/test-run.js';
import { buildFrame, parseFrame, type ParsedIpv4, type ParsedTcp } from '../../testing/frames.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { BenchError } from '../common/errors.js';
import { PerPacketEnv, VIP, CLIENT, REALS, SCHED_PORTS } from './per-packet-env.js';
import { Restorer } from './restore.js';
import { readIfMacs, writeIfMacs } from '../../src/dataplane/if-macs.js';
import { enableJitSymbols, inclusive, profileSelf, restoreJitSymbols, type SymbolShare } from '../common/profile.js';
import { median, spread } from '../common/stats.js';
import { timedSection, type Section, type SectionRunner } from '../common/section.js';

export interface PerPacketOptions {
  /** Runs per BPF_PROG_TEST_RUN for established, return, non-VIP and the floor. */
  repeat: number;
  /** Runs per BPF_PROG_TEST_RUN for new flows: one source port each, so at most 65536. */
  newFlows: number;
  /** Rounds; every case is measured once per round, cases alternating. */
  runs: number;
  log: pino.Logger;
}

export interface CaseFigure {
  /** Stable identifier: floor, established, return, non-vip, new-rr, new-wlc, new-mh. */
  name: string;
  program: string;
  verdict: string;
  /** bare: the program itself; restored: behind the restoring wrapper, its cost taken out. */
  method: 'bare' | 'restored';
  repeat: number;
  what: string;
  runsNs: number[];
  medianNs: number;
  minNs: number;
  maxNs: number;
  /** medianNs / the floor's medianNs. */
  ratio: number;
}

/** One part of an established packet's time inside xlvs_public, from perf samples. */
export interface BreakdownPart {
  part: string;
  /** Share of the samples inside xlvs_public (inclusive of the helpers it calls), in %. */
  share: number;
  /** share × the established case's ns/packet. */
  ns: number;
}

export interface PerPacketResult {
  config: { repeat: number; newFlows: number; runs: number };
  method: string[];
  cases: CaseFigure[];
  /** Where an established packet's time goes (perf, cpu-clock samples with call graphs). */
  breakdown: { samplesRepeat: number; programShare: number; parts: BreakdownPart[]; symbols: SymbolShare[] };
}

const ESTABLISHED_SPORT = 1000;
const FIRST_NEW_SPORT = 1024;

/** A case as measured: what its figure will say about it, and how to take one run's figure. */
interface Series extends Pick<CaseFigure, 'name' | 'program' | 'verdict' | 'method' | 'repeat' | 'what'> {
  /** One run's figure in ns per packet (for restored: the wrapped figure, uncorrected). */
  measure(): number;
}

function check(what: string, got: number, want: string): void {
  if (verdictName(got) !== want) throw new BenchError(`${what}: verdict ${verdictName(got)}, expected ${want}`);
}

function validate(o: PerPacketOptions): void {
  if (!Number.isInteger(o.repeat) || o.repeat < 1 || o.repeat > 0x7fffffff) throw new InvalidArgumentError('repeat', o.repeat, 'must be an integer 1..2^31-1');
  if (!Number.isInteger(o.newFlows) || o.newFlows < 1 || o.newFlows > 65536 - FIRST_NEW_SPORT) throw new InvalidArgumentError('newFlows', o.newFlows, `must be an integer 1..${65536 - FIRST_NEW_SPORT} (one source port per new flow)`);
  if (!Number.isInteger(o.runs) || o.runs < 1 || o.runs > 1000) throw new InvalidArgumentError('runs', o.runs, 'must be an integer 1..1000');
}

export async function runPerPacket(o: PerPacketOptions): Promise<PerPacketResult> {
  validate(o);
  // Before loading: perf names JIT-ed programs only if they were JIT-ed with kallsyms on.
  const kallsyms = enableJitSymbols();
  try {
    const env = await PerPacketEnv.create(o.log);
    let restorer: Restorer | undefined;
    try {
      restorer = Restorer.load(`${env.pinBase}-restore`);
      const r = restorer;
      // The interfaces' MACs, as Dataplane.load writes them: every frame pays the check (bpf/l2.h).
      const result = inNetns(env.rtr, () => {
        writeIfMacs(env.dp.maps.ifMacs, readIfMacs({ public: 'pub0', private: 'priv0' }), o.log);
        return measureAll(env, r, o);
      });
      const established = result.cases.find((c) => c.name === 'established')!;
      const profileRepeat = o.repeat * 5;
      const symbols = await profileSelf(() => inNetns(env.rtr, () => runEstablished(env, r, profileRepeat)));
      return { ...result, breakdown: breakdown(symbols, established.medianNs, profileRepeat) };
    } finally {
      restorer?.close();
      await env.close(o.log);
    }
  } finally {
    restoreJitSymbols(kallsyms);
  }
}

/** The established case once more, `repeat` runs, for the profiler. */
function runEstablished(env: PerPacketEnv, restorer: Restorer, repeat: number): void {
  const r = new XdpTestRunner(restorer.progFd);
  const ack = establishedAck(env.macs);
  restorer.arm(env.dp.progFd('xlvs_public'), ack);
  check('established (profiled)', r.run(ack, undefined, { ingressIfindex: env.pub0, repeat }), 'XDP_REDIRECT');
}

/** Parts of xlvs_public's inclusive samples, by the kernel entry points its helpers go through. */
export function breakdown(symbols: SymbolShare[], establishedNs: number, samplesRepeat: number): PerPacketResult['breakdown'] {
  const prog = inclusive(symbols, /^bpf_prog_[0-9a-f]+_xlvs_public$/);
  if (prog === undefined || prog.children <= 0) throw new BenchError(`perf: no samples in xlvs_public (${symbols.slice(0, 5).map((s) => s.symbol).join(', ')})`);
  const share = (re: RegExp): number => inclusive(symbols, re)?.children ?? 0;
  const parts = [
    { part: 'route + neighbour: bpf_fib_lookup', share: share(/^bpf_xdp_fib_lookup$/) },
    { part: 'hash map lookups (flows, vips, ...): __htab_map_lookup_elem', share: share(/^__htab_map_lookup_elem$/) },
    { part: 'clock: bpf_ktime_get_coarse_ns', share: share(/^bpf_ktime_get_coarse_ns$/) },
    { part: 'xlvs_public\'s own instructions (parse, NAT, checksums, counters, inlined array lookups)', share: prog.self },
  ];
  const rest = prog.children - parts.reduce((a, p) => a + p.share, 0);
  parts.push({ part: 'other helpers (redirect, ...)', share: Math.max(0, rest) });
  return {
    samplesRepeat,
    programShare: prog.children,
    parts: parts.map((p) => ({ part: p.part, share: (100 * p.share) / prog.children, ns: (p.share / prog.children) * establishedNs })),
    symbols: symbols.filter((s) => s.children >= 0.5),
  };
}

function establishedAck(macs: PerPacketEnv['macs']): Buffer {
  return buildFrame({
    eth: { src: macs.client, dst: macs.pub0 },
    l3: { kind: 'ipv4', src: CLIENT, dst: VIP, id: 7, df: true, ttl: 64, l4: { kind: 'tcp', sport: ESTABLISHED_SPORT, dport: 80, seq: 1, ack: 1, flags: 'ACK' } },
  });
}

function measureAll(env: PerPacketEnv, restorer: Restorer, o: PerPacketOptions): Omit<PerPacketResult, 'breakdown'> {
  const { macs } = env;
  const pubFd = env.dp.progFd('xlvs_public');
  const privFd = env.dp.progFd('xlvs_private');
  const runner = (fd: number): XdpTestRunner => new XdpTestRunner(fd);
  const wrapped = runner(restorer.progFd);
  const floor = runner(env.floorFd);
  const pub = runner(pubFd);
  const toVip = (sport: number, dport: number, flags: string): Buffer => buildFrame({
    eth: { src: macs.client, dst: macs.pub0 },
    l3: { kind: 'ipv4', src: CLIENT, dst: VIP, id: 7, df: true, ttl: 64, l4: { kind: 'tcp', sport, dport, seq: 1, ack: flags.includes('ACK') ? 1 : 0, flags } },
  });
  const ack = establishedAck(macs);
  const toReal = buildFrame({
    eth: { src: macs.client, dst: macs.pub0 },
    l3: { kind: 'ipv4', src: CLIENT, dst: REALS[0]!, id: 7, df: true, ttl: 64, l4: { kind: 'tcp', sport: ESTABLISHED_SPORT, dport: 8080, seq: 1, ack: 1, flags: 'ACK' } },
  });
  const nonVip = buildFrame({ eth: { src: macs.client, dst: macs.pub0 }, l3: { kind: 'ipv4', src: CLIENT, dst: '203.0.113.1', ttl: 64, l4: { kind: 'udp', sport: 4000, dport: 53, payload: Buffer.alloc(18) } } });

  /** Clears flows, opens the established flow and returns the real's reply to it. */
  const openEstablished = (): Buffer => {
    env.clearFlows();
    check('SYN opening the established flow', pub.run(toVip(ESTABLISHED_SPORT, 80, 'SYN'), undefined, { ingressIfindex: env.pub0 }), 'XDP_REDIRECT');
    const ip = parseFrame(pub.out.subarray(0, pub.outLength)).l3 as ParsedIpv4;
    const tcp = ip.l4 as ParsedTcp;
    const fromReal = (flags: string, seq: number): Buffer => buildFrame({ eth: { src: macs.rs1, dst: macs.priv0 }, l3: { kind: 'ipv4', src: ip.dst, dst: CLIENT, ttl: 64, l4: { kind: 'tcp', sport: tcp.dport!, dport: ESTABLISHED_SPORT, seq, ack: 2, flags } } });
    // The real's SYN-ACK (ISN 8) and the client's ACK of it: established (bpf/tcpwin.h), so the
    // measured packets take the established path.
    check('the real\'s SYN-ACK', runner(privFd).run(fromReal('SYN,ACK', 8), undefined, { ingressIfindex: env.priv0 }), 'XDP_REDIRECT');
    check('the client\'s ACK establishing the flow', pub.run(ack, undefined, { ingressIfindex: env.pub0 }), 'XDP_REDIRECT');
    return fromReal('ACK', 9);
  };

  /** A program that leaves its frame as it found it (MAC swap twice, or passed): bare repeat. */
  const bare = (r: XdpTestRunner, frame: Buffer, ifindex: number, want: string, name: string): number => {
    check(`${name} (repeat ${o.repeat})`, r.run(frame, undefined, { ingressIfindex: ifindex, repeat: o.repeat }), want);
    return r.durationNs;
  };
  /** Behind the wrapper: every run starts from `frame` (with vary, a new source port each). */
  const restored = (targetFd: number, frame: Buffer, ifindex: number, want: string, name: string, vary: boolean): number => {
    const repeat = vary ? o.newFlows : o.repeat;
    restorer.arm(targetFd, frame, vary, FIRST_NEW_SPORT);
    check(`${name} (repeat ${repeat})`, wrapped.run(frame, undefined, { ingressIfindex: ifindex, repeat }), want);
    return wrapped.durationNs;
  };
  let reply = Buffer.alloc(0);
  /** New flows: each run opens one (checked: the flow table grew by the runs' entries). */
  const newFlows = (port: number, name: string): number => {
    env.clearFlows();
    const ns = restored(pubFd, toVip(FIRST_NEW_SPORT, port, 'SYN'), env.pub0, 'XDP_REDIRECT', name, true);
    const opened = env.clearFlows();
    if (opened < o.newFlows) throw new BenchError(`${name}: ${o.newFlows} runs left ${opened} flow entries; some runs did not open a flow`);
    reply = openEstablished();
    return ns;
  };

  reply = openEstablished();
  const series: Series[] = [
    { name: 'floor', program: 'xlvs_bench_floor', verdict: 'XDP_TX', method: 'bare', repeat: o.repeat, what: 'the floor program on the established flow\'s ACK frame (parse Ethernet + IPv4, swap MACs, XDP_TX); its output is its input with MACs swapped, so a bare repeat measures it.', measure: () => bare(floor, ack, env.pub0, 'XDP_TX', 'floor') },
    { name: 'floor-restored', program: 'xlvs_bench_floor', verdict: 'XDP_TX', method: 'bare', repeat: o.repeat, what: 'the floor behind the restoring wrapper (frame written back from its template, tail call): wrapped(floor) - floor is the wrapper\'s cost, taken out of every restored case. Shown uncorrected.', measure: () => restored(env.floorFd, ack, env.pub0, 'XDP_TX', 'floor-restored', false) },
    { name: 'xdp-fwd', program: 'xlvs_bench_fwd', verdict: 'XDP_REDIRECT', method: 'restored', repeat: o.repeat, what: `the bare XDP forwarder (bench/bpf/bench_fwd.bpf.c: parse, bpf_fib_lookup, TTL, MACs, bpf_redirect; no NAT, no state) on the same ACK addressed straight to the real ${REALS[0]}: what routing in XDP costs before any load balancing.`, measure: () => restored(env.fwdFd, toReal, env.pub0, 'XDP_REDIRECT', 'xdp-fwd', false) },
    { name: 'non-vip', program: 'xlvs_public', verdict: 'XDP_PASS', method: 'bare', repeat: o.repeat, what: 'UDP to the router\'s own address (not a VIP) on pub0: passed to the kernel unchanged.', measure: () => bare(pub, nonVip, env.pub0, 'XDP_PASS', 'non-vip') },
    { name: 'established', program: 'xlvs_public', verdict: 'XDP_REDIRECT', method: 'restored', repeat: o.repeat, what: `client's ACK on an established NAT flow (rr service ${VIP}:80, 4 reals): flow lookup, DNAT, FIB lookup, redirect out of priv0.`, measure: () => restored(pubFd, ack, env.pub0, 'XDP_REDIRECT', 'established', false) },
    { name: 'return', program: 'xlvs_private', verdict: 'XDP_REDIRECT', method: 'restored', repeat: o.repeat, what: 'the real\'s ACK back to the client on priv0: reply-entry lookup, SNAT to the VIP, FIB lookup, redirect out of pub0.', measure: () => restored(privFd, reply, env.priv0, 'XDP_REDIRECT', 'return', false) },
    ...SCHED_PORTS.map(({ scheduler, port }): Series => ({
      name: `new-${scheduler}`, program: 'xlvs_public', verdict: 'XDP_REDIRECT', method: 'restored', repeat: o.newFlows,
      what: `a SYN opening a new flow on the ${scheduler} service ${VIP}:${port} (4 reals): service lookup, ${scheduler} scheduling, forward and reply entries created, DNAT, FIB lookup, redirect. Each of the ${o.newFlows} runs has its own source port; flows are deleted before and after.`,
      measure: () => newFlows(port, `new-${scheduler}`),
    })),
  ];

  const runs = new Map<string, number[]>(series.map((x) => [x.name, []]));
  for (let run = 0; run < o.runs; run++) {
    for (const x of series) runs.get(x.name)!.push(x.measure());
    o.log.info({ run: run + 1, of: o.runs }, 'per-packet run done');
  }

  const floorRuns = runs.get('floor')!;
  const wrapper = runs.get('floor-restored')!.map((w, i) => w - floorRuns[i]!);
  const floorMedian = median(floorRuns);
  const cases: CaseFigure[] = series.map((x) => {
    const raw = runs.get(x.name)!;
    const ns = x.method === 'restored' ? raw.map((v, i) => v - wrapper[i]!) : raw;
    const s = spread(ns);
    return { name: x.name, program: x.program, verdict: x.verdict, method: x.method, repeat: x.repeat, what: x.what, runsNs: ns, medianNs: s.median, minNs: s.min, maxNs: s.max, ratio: s.median / floorMedian };
  });
  return {
    config: { repeat: o.repeat, newFlows: o.newFlows, runs: o.runs },
    method: [
      'All runs on one thread inside the lab router namespace (real pub0/priv0 ifindexes, FIB with permanent neighbours);',
      'every figure is one BPF_PROG_TEST_RUN with repeat, the kernel\'s average ns per run, its verdict checked.',
      '"bare": the program alone; only for programs whose output takes the same path again (the floor swaps MACs back and',
      'forth; a non-VIP packet is passed unchanged).',
      '"restored": the kernel does not restore the frame between repeats, so a NAT program would see its own output from the',
      'second run on. These run behind bench/bpf/bench_restore.bpf.c, which writes the frame back from a template each run (for',
      'new flows with the next source port) and tail-calls the program. The floor runs behind it too, in the same round:',
      'ns = wrapped(case) - (wrapped(floor) - floor). New flows: every run opens a flow (checked: the flow table holds at',
      'least one entry per run afterwards).',
    ],
    cases,
  };
}

const FULL = { repeat: 1_000_000, newFlows: 60_000, runs: 7 };
const SMOKE = { repeat: 1000, newFlows: 200, runs: 1 };

export function perPacketSection(r: PerPacketResult, seconds: number): Section {
  const n = (x: number): string => x.toFixed(1);
  return {
    id: 'per-packet',
    title: 'Per-packet cost (BPF_PROG_TEST_RUN)',
    command: 'node dist/bench/run.js --only per-packet',
    setup: [
      `- ${r.config.runs} rounds, cases alternating within each round; repeat ${r.config.repeat} per run (new flows: ${r.config.newFlows}, one source port each).`,
      '- Median of the runs, spread min – max; × floor = median / the floor\'s median.',
      ...headline(r),
    ],
    tables: [{
      columns: ['case', 'program', 'verdict', 'method', 'repeat', 'ns/packet', 'spread (ns)', '× floor'],
      rows: r.cases.map((c) => [c.name, c.program, c.verdict, c.method, c.repeat, n(c.medianNs), `${n(c.minNs)} – ${n(c.maxNs)}`, c.ratio.toFixed(2)]),
    }, {
      caption: `Where an established packet's time goes: perf cpu-clock samples with call graphs of one more established run (repeat ${r.breakdown.samplesRepeat}); shares of the samples inside xlvs_public (${r.breakdown.programShare.toFixed(1)}% of all, the rest is the test harness and the wrapper), × the established figure above.`,
      columns: ['part', '% of xlvs_public', 'ns/packet'],
      rows: r.breakdown.parts.map((p) => [p.part, p.share.toFixed(1), n(p.ns)]),
    }],
    notes: [...r.method, '', ...r.cases.map((c) => `- **${c.name}**: ${c.what}`)],
    data: r,
    seconds,
  };
}

/** The figures a reader compares first: established against the floor and the bare forwarder. */
function headline(r: PerPacketResult): string[] {
  const ns = (name: string): number => r.cases.find((c) => c.name === name)!.medianNs;
  const est = ns('established');
  const fib = r.breakdown.parts.find((p) => p.part.includes('bpf_fib_lookup'))!;
  return [
    `- Established flow: ${est.toFixed(0)} ns, ${(est / ns('floor')).toFixed(1)}× the floor (goal 1.3×) and ${(est / ns('xdp-fwd')).toFixed(1)}× the bare XDP forwarder (${ns('xdp-fwd').toFixed(0)} ns), which asks the FIB for every packet and keeps no state.`,
    `- bpf_fib_lookup: ${fib.ns.toFixed(0)} ns of it (${fib.share.toFixed(0)}%, table below). An established flow's packets take the next hop cached in their flow entry (asked again every second, or for a longer packet); the bare forwarder asks the FIB for every packet. What remains is the flow and VIP hash lookups and the program's own work (table below).`,
  ];
}

export const perPacket: SectionRunner = timedSection('per-packet', 'Per-packet cost', ({ log, smoke }) => runPerPacket({ ...(smoke ? SMOKE : FULL), log }), perPacketSection, (r, log) => {
  for (const c of r.cases) log.info({ case: c.name, ns: c.medianNs, min: c.minNs, max: c.maxNs, ratio: Number(c.ratio.toFixed(2)) }, 'per-packet');
});
