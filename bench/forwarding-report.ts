// SPDX-License-Identifier: Apache-2.0
// The forwarding benchmark's figures as a report section: tables, setup and the notes that
// explain the method and read the figures (where xlvs loses, where its time goes).

import type { Section } from './section.js';
import type { ForwardingResult, PeerFigure } from './forwarding.js';
import type { PeerId } from './forwarding-peers.js';

const mpps = (x: number): string => (x / 1e6).toFixed(3);
const ns = (x: number): string => x.toFixed(0);

function byPeer(r: ForwardingResult, id: PeerId): PeerFigure {
  const p = r.peers.find((x) => x.peer === id);
  if (p === undefined) throw new Error(`no figures for peer ${id}`);
  return p;
}

/** Sentences that read the figures of this run: who is faster than xlvs, and by how much. */
export function readings(r: ForwardingResult): string[] {
  const x = byPeer(r, 'xlvs');
  const out: string[] = [];
  for (const p of r.peers) {
    if (p.peer === 'xlvs' || p.peer === 'baseline') continue;
    const pct = (p.ratioToXlvs - 1) * 100;
    out.push(`- ${p.peer}: ${mpps(p.pps.median)} Mpps, ${pct >= 0 ? `${pct.toFixed(0)}% more than` : `${(-pct).toFixed(0)}% less than`} xlvs (${mpps(x.pps.median)} Mpps); router CPU ${ns(p.routerNsPerPacket)} ns/packet vs xlvs ${ns(x.routerNsPerPacket)}.`);
  }
  const prog = (peer: PeerId, role: 'router' | 'sink' | 'generator'): number | undefined => r.progs.find((q) => q.peer === peer && q.role === role)?.run.nsPerRun;
  const xp = prog('xlvs', 'router');
  const fp = prog('xdp-fwd', 'router');
  if (xp !== undefined && fp !== undefined) {
    const f = byPeer(r, 'xdp-fwd');
    out.push(`- Where xlvs's extra time goes: xlvs_public ran ${ns(xp)} ns per packet against the bare forwarder's ${ns(fp)} ns (run-time statistics pass), ${ns(xp - fp)} ns more for the flow lookup, DNAT and checksum updates; the router's whole CPU share differs by ${ns(x.routerNsPerPacket - f.routerNsPerPacket)} ns/packet. The rest of each router's share (veth hop, redirect, the sink's NAPI) is common to both.`);
  }
  return out;
}

export function forwardingSection(r: ForwardingResult, seconds: number): Section {
  const c = r.config;
  const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
  return {
    id: 'forwarding',
    title: 'Forwarding rate (live-frames generator, namespace lab)',
    command: 'node dist/bench/run.js --only forwarding',
    setup: [
      `- Lab: client | router | LAN namespaces, veth pairs, offloads off. The generator (bpf/bench_gen.bpf.c, BPF_F_TEST_XDP_LIVE_FRAMES, batch 64) sends 60-byte IPv4 UDP frames (18-byte payload) out of the client's eth0 into the router's pub0: source ${'203.0.113.2'}, source ports 1024..${1023 + c.ports} in sequence (${c.ports} flows, each as often), destination port 5353. The sink (bpf/bench_sink.bpf.c) on the LAN end of priv0 counts per destination and drops, right after the router. Neighbours of the reals are permanent entries in the router.`,
      ...r.setup,
      `- ${c.rounds} rounds; in each, every peer once (order rotated by one per round): up, a warm-up of max(3 × ${c.ports}, 4096) frames (flows and conntrack entries created), then ${c.seconds} s of traffic measured, then down.`,
    ],
    tables: [
      {
        caption: `Delivered at the sink, median of ${c.rounds} rounds (min – max); CPU = busy time of all CPUs (/proc/stat) over the measurement / delivered packets; router = CPU minus the baseline's (the generator's and the sink's share).`,
        columns: ['peer', 'Mpps', 'spread (Mpps)', '× xlvs', 'CPU ns/packet', 'spread', 'router ns/packet', 'lost', 'busy CPUs'],
        rows: r.peers.map((p) => [
          p.peer, mpps(p.pps.median), `${mpps(p.pps.min)} – ${mpps(p.pps.max)}`, p.ratioToXlvs.toFixed(2), ns(p.cpuNsPerPacket.median),
          `${ns(p.cpuNsPerPacket.min)} – ${ns(p.cpuNsPerPacket.max)}`, p.peer === 'baseline' ? '(floor)' : ns(p.routerNsPerPacket), pct(p.lossMedian), p.busyCpus.toFixed(2),
        ]),
      },
      {
        caption: 'Share of the delivered frames per destination (all rounds): every frame counted for xlvs and nftables was NATed to one of the four reals.',
        columns: ['peer', ...['10.77.0.11', '10.77.0.12', '10.77.0.13', '10.77.0.14'].map((a) => `${a}:5353`)],
        rows: r.peers.filter((p) => p.peer !== 'baseline').map((p) => [p.peer, ...['11', '12', '13', '14'].map((h) => pct(p.dstShares[`10.77.0.${h}:5353/17`] ?? 0))]),
      },
      {
        caption: `Run-time statistics pass (BPF_ENABLE_STATS on; ${c.statsSeconds} s per peer, not part of the figures above): kernel ns per program run, instructions after verification, JITed size.`,
        columns: ['peer', 'role', 'program', 'ns/run', 'runs', 'insns', 'JITed bytes'],
        rows: r.progs.map((q) => [q.peer, q.role, q.run.name, q.run.nsPerRun.toFixed(1), q.run.runs, q.run.insns, q.run.jitedBytes]),
      },
    ],
    notes: [
      '- Method: every figure is from this run; peers alternate within each round so noise hits all alike; median of the rounds, spread min – max. Delivered pps = frames counted by the sink / wall time of the sending.',
      '- The generator, the router and the sink share the machine: the generator runs on the benchmark\'s thread, and the veth receive work (NAPI) it triggers runs in softirq right after each batch, on the same CPU. "busy CPUs" shows how many CPUs the whole path kept busy; near 1.0 means the path runs on one CPU and pps ≈ 1 / (CPU per packet). The generator\'s own share is measured by the baseline (frames counted and dropped on arrival at pub0) and subtracted in the "router" column; the router column therefore includes the extra veth hop (priv0 → sink) every routing peer pays.',
      '- "lost" = frames the generator sent that the sink did not count (veth ring overflow or a drop in the router), median over rounds.',
      '- Per-destination counts are checked in every round: a peer whose frames went anywhere but its expected destinations, or a NAT whose share per real is off 1/4 by more than 5 points, fails the benchmark.',
      '- Caveat: veth and namespaces, not NICs: no driver, no DMA, no interrupt moderation; absolute figures are this VM\'s, the ratios are what carries over. The kernel and nftables peers need an XDP program on pub0 (an XDP_PASS one) to receive the generator\'s XDP_TX frames at all: that costs them the skb build from an XDP frame, which a NIC driver would do anyway.',
      '',
      '**Reading this run**',
      '',
      ...readings(r),
    ],
    data: r,
    seconds,
  };
}
