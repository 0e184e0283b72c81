// SPDX-License-Identifier: Apache-2.0
// "N flows held": N distinct SYNs through xlvs_public (BPF_PROG_TEST_RUN in the lab router, as
// the per-packet bench opens new flows), each from its own source address:port; then a census of
// the flows map (how many connections still have both entries), and the first- and last-opened
// flows probed with the real's SYN-ACK and their client's ACK of it (a handshake: bpf/tcpwin.h
// establishes nothing else): does the ACK still reach the real its SYN went to? Also the
// kernel's cost of one new flow while the table is empty and once it is full (LRU eviction), and
// the time one reaper pass takes over the table.

import { XdpTestRunner, verdictName, XDP } from '../../src/kernel/test-run.js';
import { XLVS_REAL_F_USED } from '../../src/gen/abi.js';
import { BenchError } from '../common/errors.js';
import { VIP, NEW_PORT, NEW_REAL_PORT, type FlowEnv } from './flow-scale-env.js';
import { TcpFrame, nthSource, ipv4Text } from './flow-scale-frames.js';
import { buildFrame } from '../../testing/frames.js';
import { census, connCounts, resetTable, type Census, type ConnCounts } from './flow-scale-table.js';
import { median } from '../common/stats.js';

/** Where the real's address sits in a redirected IPv4 frame (Ethernet + IPv4 destination). */
const IP_DST = 14 + 16;
/** Bound on one series of test runs, so a wedged run fails instead of hanging. */
const OPEN_DEADLINE_MS = 120_000;

export interface Probe {
  checked: number;
  /** The ACK went out (XDP_REDIRECT) to the real the SYN went to. */
  sameReal: number;
  /** The ACK went out to another real: a corrupt table (an ACK opens nothing); must stay 0. */
  otherReal: number;
  /** The ACK was dropped: its flow is gone (no_flow). */
  lost: number;
}

export interface HeldResult {
  flows: number;
  redirected: number;
  verdicts: Record<string, number>;
  census: Census;
  counts: ConnCounts;
  first: Probe;
  last: Probe;
  /** Kernel ns of one SYN (median per-call, uncorrected) over the first and the last 10% opened. */
  newFlowNsEmpty: number;
  newFlowNsFull: number;
  openSeconds: number;
  /** One xlvs_reap pass over the table as it is after the probes (nothing is past its deadline). */
  reapMs: number;
  /** The counts after that pass (its recount takes out what eviction left). */
  countsAfterReap: ConnCounts;
}

export function usedRealIds(env: FlowEnv): number[] {
  return [...env.dp.maps.reals.entries()].filter(([, r]) => (r.flags & XLVS_REAL_F_USED) !== 0).map(([id]) => id);
}

export class FlowOpener {
  readonly pub: XdpTestRunner;
  private readonly syn: TcpFrame;
  private readonly ack: TcpFrame;

  constructor(private readonly env: FlowEnv, port = NEW_PORT) {
    this.pub = new XdpTestRunner(env.dp.progFd('xlvs_public'));
    this.syn = new TcpFrame({ srcMac: env.macs.client, dstMac: env.macs.pub0, dst: VIP, dport: port, flags: 'SYN' });
    this.ack = new TcpFrame({ srcMac: env.macs.client, dstMac: env.macs.pub0, dst: VIP, dport: port, flags: 'ACK' });
  }

  /** Sends one SYN (or ACK); returns the verdict. The real it went to is realOf() until the next send. */
  send(src: number, sport: number, kind: 'syn' | 'ack'): number {
    const f = (kind === 'syn' ? this.syn : this.ack).set(src, sport);
    return this.pub.run(f, undefined, { ingressIfindex: this.env.pub0 });
  }

  realOf(): number {
    return this.pub.out.readUInt32BE(IP_DST);
  }
}

/** Must run inside the router namespace (inNetns). */
export function measureHeld(env: FlowEnv, flows: number, probe: number): HeldResult {
  if (probe * 2 > flows) throw new BenchError(`held: ${probe} probed flows at each end need at least ${probe * 2} flows (got ${flows})`);
  const realIds = usedRealIds(env);
  resetTable(env, realIds);
  const o = new FlowOpener(env);
  const ns = new Float64Array(flows);
  const verdicts: Record<string, number> = {};
  const realOfFlow = new Map<number, number>();
  const deadline = Date.now() + OPEN_DEADLINE_MS;
  const t0 = Date.now();
  for (let i = 0; i < flows; i++) {
    const s = nthSource(i);
    const v = o.send(s.src, s.sport, 'syn');
    ns[i] = o.pub.durationNs;
    const name = verdictName(v);
    verdicts[name] = (verdicts[name] ?? 0) + 1;
    if (v === XDP.REDIRECT && (i < probe || i >= flows - probe)) realOfFlow.set(i, o.realOf());
    if ((i & 0xffff) === 0xffff && Date.now() > deadline) throw new BenchError(`held: ${i + 1} of ${flows} SYNs took over ${OPEN_DEADLINE_MS} ms`);
  }
  const openSeconds = (Date.now() - t0) / 1000;
  const tenth = Math.max(1, Math.floor(flows / 10));
  const c = census(env);
  const counts = connCounts(env, realIds);
  const priv = new XdpTestRunner(env.dp.progFd('xlvs_private'));
  const probeRange = (from: number): Probe => {
    const p: Probe = { checked: 0, sameReal: 0, otherReal: 0, lost: 0 };
    for (let i = from; i < from + probe; i++) {
      const want = realOfFlow.get(i);
      if (want === undefined) continue;
      const s = nthSource(i);
      p.checked++;
      // The real's SYN-ACK (ISN 1, acknowledging the SYN's seq 1), so the ACK below ends a
      // handshake. Its verdict is not the probe: a lost flow drops the ACK too.
      priv.run(buildFrame({
        eth: { src: env.macs.rs1, dst: env.macs.priv0 },
        l3: { kind: 'ipv4', src: ipv4Text(want), dst: ipv4Text(s.src), ttl: 64, l4: { kind: 'tcp', sport: NEW_REAL_PORT, dport: s.sport, seq: 1, ack: 2, flags: 'SYN,ACK' } },
      }), undefined, { ingressIfindex: env.priv0 });
      const v = o.send(s.src, s.sport, 'ack');
      if (v !== XDP.REDIRECT) p.lost++;
      else if (o.realOf() === want) p.sameReal++;
      else p.otherReal++;
    }
    return p;
  };
  const first = probeRange(0);
  const last = probeRange(flows - probe);
  const reap = new XdpTestRunner(env.dp.progFd('xlvs_reap'));
  const r0 = process.hrtime.bigint();
  reap.run(Buffer.alloc(64));
  const reapMs = Number(process.hrtime.bigint() - r0) / 1e6;
  return {
    flows, redirected: verdicts.XDP_REDIRECT ?? 0, verdicts, census: c, counts, first, last,
    newFlowNsEmpty: median(ns.subarray(0, tenth)), newFlowNsFull: median(ns.subarray(flows - tenth)), openSeconds, reapMs,
    countsAfterReap: connCounts(env, realIds),
  };
}
