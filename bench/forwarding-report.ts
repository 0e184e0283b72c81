// SPDX-License-Identifier: Apache-2.0
// The forwarding benchmark's figures as a report section: tables, setup and the notes that
// explain the method and read the figures (where xlvs loses, where its time goes).

import type { Section, Table } from './section.js';
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
    out.push(`- ${p.peer}: ${mpps(p.pps.median)} Mpps, ${pct >= 0 ? `${pct.toFixed(0)}% more than` : `${(-pct).toFixed(0)}% less than`} xlvs (${mpps(x.pps.median)} Mpps); router share ${ns(p.routerNsPerPacket)} ns/packet vs xlvs's ${ns(x.routerNsPerPacket)}.`);
  }
  const prog = (peer: PeerId, role: 'router' | 'sink' | 'generator'): number | undefined => r.progs.find((q) => q.peer === peer && q.role === role)?.run.nsPerRun;
  const xp = prog('xlvs', 'router');
  const fp = prog('xdp-fwd', 'router');
  if (xp !== undefined && fp !== undefined) {
    const f = byPeer(r, 'xdp-fwd');
    out.push(`- Where xlvs's extra time goes: xlvs_public ran ${ns(xp)} ns per packet against the bare forwarder's ${ns(fp)} ns (run-time statistics pass: one second each, statistics overhead included, and these memory-bound figures move with whatever else runs), ${ns(xp - fp)} ns more for the VIP and flow lookups, the DNAT and its checksum updates; in the measured rounds the routers' shares of the path differ by ${ns(x.routerNsPerPacket - f.routerNsPerPacket)} ns/packet. Both then redirect into priv0 the same way, so the rest of their shares (redirect, veth hop, the sink's NAPI) is common.`);
  }
  const few = r.peers.find((p) => p.peer === 'xlvs-16');
  if (few !== undefined) {
    const share = (peer: PeerId): string => {
      const p = r.profiles.find((q) => q.peer === peer);
      const t = p !== undefined && 'top' in p ? p.top.find((s) => s.symbol === 'lookup_nulls_elem_raw') : undefined;
      return t === undefined ? 'under the profile\'s cut' : `${t.pct.toFixed(1)}%`;
    };
    out.push(`- Flow-table memory: the same xlvs with ${r.config.ports} flows has a router share ${ns(x.routerNsPerPacket - few.routerNsPerPacket)} ns/packet above its ${'16'}-flow run (${mpps(x.pps.median)} vs ${mpps(few.pps.median)} Mpps). In the profiles, lookup_nulls_elem_raw — the kernel's walk of one hash bucket, here of \`flows\` (an LRU hash preallocated for ${'1,048,576'} entries, so entries and buckets are spread over a large area) — takes ${share('xlvs')} of the samples with many flows and ${share('xlvs-16')} with 16: with thousands of flows each packet's bucket and entry miss the caches and the TLB (in a VM a TLB miss walks two page tables). conntrack pays for its own table as well (nftables row); a smaller or per-CPU flow table, or huge-page backing, would be where to win this back.`);
  }
  for (const p of r.profiles) {
    if (!('top' in p)) continue;
    const prog = p.top.filter((t) => t.symbol.startsWith('bpf_prog_')).map((t) => `${t.symbol} ${t.pct.toFixed(1)}%`).join(', ');
    out.push(`- perf, ${p.peer}: the XDP programs took ${prog || 'under 0.5% each'} of the path's samples; top symbols ${p.top.slice(0, 5).map((t) => `${t.symbol} ${t.pct.toFixed(1)}%`).join(', ')}.`);
  }
  return out;
}

/** One table per profiled peer: its top kernel symbols (or why perf gave none). */
function profileTables(r: ForwardingResult): Table[] {
  return r.profiles.map((p) => 'top' in p
    ? { caption: `perf profile of the whole path, ${p.peer} (cpu-clock samples of this process, ${r.config.statsSeconds} s): top symbols by own samples.`, columns: ['symbol', '% of samples'], rows: p.top.map((t) => [t.symbol, t.pct.toFixed(1)]) }
    : { caption: `perf profile, ${p.peer}: none.`, columns: ['why'], rows: [[p.error]] });
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
        caption: `Delivered at the sink, median of ${c.rounds} rounds (min – max). × xlvs = median pps / xlvs's; path = kernel time of the generator's live-frames calls / delivered packets (the whole path runs inside them); × xlvs (path) = xlvs's path / the peer's (> 1: cheaper per packet than xlvs); router = path minus the baseline's path (the generator's and the sink's share); CPU = busy time of all CPUs (/proc/stat) / delivered packets; state entries = xlvs flow entries (2 per flow) or conntrack entries (1 per flow) after the last turn, checked in every turn.`,
        columns: ['peer', 'Mpps', 'spread (Mpps)', '× xlvs', 'path ns/packet', 'spread', '× xlvs (path)', 'router ns/packet', 'CPU ns/packet', 'busy CPUs', 'lost', 'state entries'],
        rows: r.peers.map((p) => [
          p.peer, mpps(p.pps.median), `${mpps(p.pps.min)} – ${mpps(p.pps.max)}`, p.ratioToXlvs.toFixed(2), ns(p.pathNsPerPacket.median),
          `${ns(p.pathNsPerPacket.min)} – ${ns(p.pathNsPerPacket.max)}`, p.pathRatioToXlvs.toFixed(2), p.peer === 'baseline' ? '(floor)' : ns(p.routerNsPerPacket),
          ns(p.cpuNsPerPacket.median), p.busyCpus.toFixed(2), pct(p.lossMedian), p.stateEntries ?? '',
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
      ...profileTables(r),
    ],
    notes: [
      '- Method: every figure is from this run; peers alternate within each round so noise hits all alike; median of the rounds, spread min – max. Delivered pps = frames counted by the sink / wall time of the sending.',
      '- Where the work runs: the generator runs on the benchmark\'s thread; each live-frames batch ends by re-enabling bottom halves, and the receive softirqs its XDP_TX raised (pub0\'s NAPI: the router\'s XDP program or the kernel\'s forwarding and nftables, then priv0 → the sink\'s NAPI) run right there, inside the same system call, on the same CPU. So the kernel\'s own time for those calls (live-frames duration × frames) is the whole path\'s time, and "path ns/packet" is it per delivered packet; the kernel stops that clock when it yields the CPU, so other processes\' load hardly enters it. "CPU ns/packet" is the machine-wide view (busy time of all CPUs over the measurement / delivered packets, /proc/stat): it includes everything else the machine did meanwhile, and "busy CPUs" (busy CPU-seconds per second) says how much that was: about 1.0 means only the path ran, and then CPU ns/packet ≈ path ns/packet ≈ 1 / pps.',
      '- The generator\'s own share is the baseline\'s path (frames generated, sent through the veth and counted and dropped on arrival at pub0); "router ns/packet" subtracts it. It therefore includes the second veth hop (priv0 → the sink) every routing peer pays, and the sink\'s work is in both.',
      '- Run-time statistics cost two clock reads per program run, so they are on only in a separate pass (BPF_ENABLE_STATS, held by an fd, not the global sysctl); its ns/run figures include the statistics\' own cost and come from one second per peer, so they say where the time goes rather than compete with the path figures. The perf profiles are a third pass (bench/profile.ts: cpu-clock samples of this process only, which holds the whole path because its softirqs run in this thread, as said above; self shares shown).',
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
