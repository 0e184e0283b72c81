// SPDX-License-Identifier: Apache-2.0
// The forwarding benchmark's figures as a report section: tables, setup and the notes that
// explain the method and read the figures (where xlvs loses, where its time goes).

import type { Section, Table } from '../common/section.js';
import type { ForwardingResult, PeerFigure } from './forwarding.js';
import type { PeerId } from './forwarding-peers.js';

const mpps = (x: number): string => (x / 1e6).toFixed(3);
const ns = (x: number): string => x.toFixed(0);

function byPeer(r: ForwardingResult, id: PeerId): PeerFigure {
  const p = r.peers.find((x) => x.peer === id);
  if (p === undefined) throw new Error(`no figures for peer ${id}`);
  return p;
}

/** Sentences that read the figures of this run: what the generator offered, who is faster than xlvs, and by how much. */
export function readings(r: ForwardingResult): string[] {
  const x = byPeer(r, 'xlvs');
  const base = byPeer(r, 'baseline');
  const out: string[] = [];
  const routers = r.peers.filter((p) => p.peer !== 'baseline');
  const fastest = routers.reduce((a, p) => (p.pps.median > a.pps.median ? p : a));
  out.push(`- Generator: the ${r.generator.name} offered ${mpps(base.pps.median)} Mpps into a count-and-drop sink (baseline; ${ns(base.pathNsPerPacket.median)} ns/packet for generator and sink together). The fastest router delivered ${mpps(fastest.pps.median)} Mpps (${fastest.peer}, ${(100 * fastest.pps.median / base.pps.median).toFixed(0)}% of that), so ${fastest.pps.median < 0.9 * base.pps.median ? 'every router\'s own cost shows' : 'the generator and sink were a large part of the fastest path: read its router ns/packet rather than its Mpps'}.`);
  const refused = r.turns.reduce((a, t) => a + t.refused, 0);
  out.push(refused === 0
    ? '- No frame was refused by pub0\'s ring in any turn: the loop ran at the pace of the router it fed.'
    : `- pub0's ring refused ${refused} frames over all turns (xdp_xmit_errors): the loop outran its receiver there; those frames are in "lost".`);
  for (const p of routers) {
    if (p.peer === 'xlvs') continue;
    const pct = (p.ratioToXlvs - 1) * 100;
    out.push(`- ${p.peer}: ${mpps(p.pps.median)} Mpps delivered, ${pct >= 0 ? `${pct.toFixed(0)}% more than` : `${(-pct).toFixed(0)}% less than`} xlvs (${mpps(x.pps.median)} Mpps); router share ${ns(p.routerNsPerPacket)} ns/packet vs xlvs's ${ns(x.routerNsPerPacket)}.`);
  }
  const prog = (peer: PeerId, role: 'router' | 'sink' | 'generator'): number | undefined => r.progs.find((q) => q.peer === peer && q.role === role)?.run.nsPerRun;
  const xp = prog('xlvs', 'router');
  const fp = prog('xdp-fwd', 'router');
  if (xp !== undefined && fp !== undefined) {
    const f = byPeer(r, 'xdp-fwd');
    out.push(`- Where xlvs's extra time goes: xlvs_public ran ${ns(xp)} ns per packet against the bare forwarder's ${ns(fp)} ns (run-time statistics pass: ${r.config.statsSeconds} s each, statistics overhead included, and these memory-bound figures move with whatever else runs), ${ns(xp - fp)} ns more for the VIP and flow lookups, the DNAT and its checksum updates; in the measured rounds the routers' shares of the path differ by ${ns(x.routerNsPerPacket - f.routerNsPerPacket)} ns/packet. Both then redirect into priv0 the same way, so the rest of their shares (redirect, veth hop, the sink's NAPI) is common.`);
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
    ? { caption: `perf profile of the whole path, ${p.peer} (cpu-clock samples of the loop's CPU while it ran this peer's path, about ${r.config.statsSeconds} s): top symbols by own samples.`, columns: ['symbol', '% of samples'], rows: p.top.map((t) => [t.symbol, t.pct.toFixed(1)]) }
    : { caption: `perf profile, ${p.peer}: none.`, columns: ['why'], rows: [[p.error]] });
}

export function forwardingSection(r: ForwardingResult, seconds: number): Section {
  const c = r.config;
  const g = r.generator;
  const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
  return {
    id: 'forwarding',
    title: 'Forwarding rate (XDP packet-loop generator, namespace lab)',
    command: 'node dist/bench/run.js --only forwarding',
    setup: [
      `- Lab: client | router | LAN namespaces, veth pairs, offloads off. The generator, an ${g.name} (bench/bpf/bench_gen.bpf.c, bench/traffic/loop-gen.ts): ${g.seeds} seed frame circulates in a private veth pair in the client namespace; at each arrival an XDP program copies it through a DEVMAP with BPF_F_BROADCAST, ${g.fan - 1} copies to the client's eth0 and one back into the loop, and a devmap program turns each eth0 copy into the next frame of the stream (source port set, checksums patched). It sends 60-byte IPv4 UDP frames (18-byte payload) into the router's pub0: source ${'203.0.113.2'}, source ports 1024..${1023 + c.ports} in sequence (${c.ports} flows, each as often), destination port 5353. The sink (bench/bpf/bench_sink.bpf.c) on the LAN end of priv0 counts per destination and drops, right after the router. Neighbours of the reals are permanent entries in the router.`,
      ...r.setup,
      `- ${c.rounds} rounds; in each, every peer once (order rotated by one per round): up, a warm-up of max(3 × ${c.ports}, 4096) frames (flows and conntrack entries created), then ${c.seconds} s of traffic measured (the loop's own deadline), then down.`,
    ],
    tables: [
      {
        caption: `The generator alone: the baseline peer, the generator straight into a count-and-drop sink on pub0 (no router), median of ${c.rounds} rounds (min – max). This is what it can offer; every router row below is slower because the router's work is added on the same CPU.`,
        columns: ['generator', 'Mpps into a sink', 'spread (Mpps)', 'ns/packet (generator + sink)'],
        rows: [[g.name, mpps(g.capacityPps.median), `${mpps(g.capacityPps.min)} – ${mpps(g.capacityPps.max)}`, ns(byPeer(r, 'baseline').pathNsPerPacket.median)]],
      },
      {
        caption: `Delivered at the sink, median of ${c.rounds} rounds (min – max). Mpps = delivered / the loop's run (kernel clock); × xlvs = median pps / xlvs's; path = busy time of the CPU the loop ran on (/proc/stat; generator, router and sink all run there) / delivered packets; router = path minus the baseline's path (the generator's and the sink's share); router Mpps = 1000 / router ns, the router's own rate with a CPU to itself; × xlvs (path) = xlvs's path / the peer's (> 1: cheaper per packet than xlvs); CPU = busy time of all CPUs / delivered packets; state entries = xlvs flow entries (2 per flow) or conntrack entries (1 per flow) after the last turn, checked in every turn.`,
        columns: ['peer', 'Mpps', 'spread (Mpps)', '× xlvs', 'path ns/packet', 'spread', 'router ns/packet', 'router Mpps', '× xlvs (path)', 'CPU ns/packet', 'busy CPUs', 'lost', 'state entries'],
        rows: r.peers.map((p) => [
          p.peer, mpps(p.pps.median), `${mpps(p.pps.min)} – ${mpps(p.pps.max)}`, p.ratioToXlvs.toFixed(2), ns(p.pathNsPerPacket.median),
          `${ns(p.pathNsPerPacket.min)} – ${ns(p.pathNsPerPacket.max)}`, p.peer === 'baseline' ? '(generator)' : ns(p.routerNsPerPacket),
          p.routerPps === undefined ? '' : mpps(p.routerPps), p.pathRatioToXlvs.toFixed(2), ns(p.cpuNsPerPacket.median), p.busyCpus.toFixed(2), pct(p.lossMedian), p.stateEntries ?? '',
        ]),
      },
      {
        caption: 'Share of the delivered frames per destination (all rounds): every frame counted for xlvs and nftables was NATed to one of the four reals.',
        columns: ['peer', ...['10.77.0.11', '10.77.0.12', '10.77.0.13', '10.77.0.14'].map((a) => `${a}:5353`)],
        rows: r.peers.filter((p) => p.peer !== 'baseline').map((p) => [p.peer, ...['11', '12', '13', '14'].map((h) => pct(p.dstShares[`10.77.0.${h}:5353/17`] ?? 0))]),
      },
      {
        caption: `Run-time statistics pass (BPF_ENABLE_STATS on; ${c.statsSeconds} s per peer, not part of the figures above): kernel ns per program run, instructions after verification, JITed size. generator = the devmap program (one run per copy), loop = the loop program (one run per round of ${g.fan} copies).`,
        columns: ['peer', 'role', 'program', 'ns/run', 'runs', 'insns', 'JITed bytes'],
        rows: r.progs.map((q) => [q.peer, q.role, q.run.name, q.run.nsPerRun.toFixed(1), q.run.runs, q.run.insns, q.run.jitedBytes]),
      },
      ...profileTables(r),
    ],
    notes: [
      '- Method: every figure is from this run; peers alternate within each round so noise hits all alike; median of the rounds, spread min – max. Delivered pps = frames counted by the sink / the loop\'s run time by the kernel\'s clock (its first round to its last).',
      '- Where the work runs: the seed is sent once (AF_PACKET, src/host/raw-frames.ts); from then on everything is softirq work on the CPU it arrived on: the loop\'s NAPI (loop program, copies, devmap program), pub0\'s NAPI (the router\'s XDP program, or the kernel\'s forwarding and nftables), then the sink\'s NAPI behind priv0. A redirect wakes the receiver\'s NAPI on the CPU that sent, and the NAPI polls take turns there, so the loop makes its next copies only after the router has had its turn: it runs at the pace of the router it feeds, and the benchmark\'s own thread only sleeps and polls the loop\'s progress. So the busy time of that CPU (/proc/stat) over the run is the whole path\'s time, and "path ns/packet" is it per delivered packet. "CPU ns/packet" is the machine-wide view (busy time of all CPUs over the measurement / delivered packets): it includes everything else the machine did meanwhile, and "busy CPUs" (busy CPU-seconds per second of the run) says how much that was: about 1.0 means only the path ran.',
      '- The generator\'s own share is the baseline\'s path (frames generated, sent through the veth and counted and dropped on arrival at pub0), which is also its capacity (the first table); "router ns/packet" subtracts it and "router Mpps" inverts what is left. It therefore includes the second veth hop (priv0 → the sink) every routing peer pays, and the sink\'s work is in both.',
      '- Run-time statistics cost two clock reads per program run, so they are on only in a separate pass (BPF_ENABLE_STATS, held by an fd, not the global sysctl); its ns/run figures include the statistics\' own cost, so they say where the time goes rather than compete with the path figures. The perf profiles are a third pass (bench/common/profile.ts: cpu-clock samples of every CPU, read back for the CPU the loop ran on, which holds the whole path; self shares shown).',
      '- "lost" = frames the generator sent that the sink did not count (a drop in the router, or pub0\'s ring full: the latter is counted apart, see the readings), median over rounds.',
      '- Per-destination counts are checked in every round: a peer whose frames went anywhere but its expected destinations, or a NAT whose share per real is off 1/4 by more than 5 points, fails the benchmark.',
      '- Caveat: veth and namespaces, not NICs: no driver, no DMA, no interrupt moderation; absolute figures are this VM\'s, the ratios are what carries over. The kernel and nftables peers need an XDP program on pub0 (an XDP_PASS one) to receive the generator\'s redirected frames at all: that costs them the skb build from an XDP frame, which a NIC driver would do anyway. With threaded NAPI on pub0 the router would run on its own CPU and the loop would run free (the surplus refused by pub0\'s ring); this benchmark keeps them on one CPU so that the router paces the loop.',
      '',
      '**Reading this run**',
      '',
      ...readings(r),
    ],
    data: r,
    seconds,
  };
}
