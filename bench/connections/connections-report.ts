// SPDX-License-Identifier: Apache-2.0
// The connections benchmark's figures, summarised per peer (median of the valid rounds, spread,
// ratios computed within each round) and rendered as the report's section. Pure: no I/O.

import { availableParallelism } from 'node:os';
import { PEERS, REAL_COUNT, HAPROXY_TUNING, type PeerName } from './connections-env.js';
import type { ConnectionsResult, PeerRun } from './connections.js';
import { NGINX_TUNING } from '../peers/nginx.js';
import { spread, median, type Spread } from '../common/stats.js';
import type { Section, Table } from '../common/section.js';

export interface XdpSummary {
  /** Average ns per run of each program (median over rounds). */
  publicNs: number;
  privateNs: number;
  /** Program runs (packets) per connection, both directions. */
  packetsPerConn: number;
  /** Both programs' run time per completed connection, ns. */
  nsPerConn: number;
  /** The XDP programs' share of all CPUs' time during the runs, percent. */
  cpuPct: number;
}

export interface PeerSummary {
  peer: PeerName;
  valid: number;
  total: number;
  connPerSec: Spread;
  p50Us: Spread;
  p99Us: Spread;
  /** Per-round conn/s ratio to xlvs and to direct, over the rounds where both runs count. */
  vsXlvs: Spread | undefined;
  vsDirect: Spread | undefined;
  /** Median CPU split over the valid rounds, percent. */
  cpu: { user: number; system: number; softirq: number; idle: number; other: number };
  /** Busy CPU time of the whole machine per completed connection, microseconds (median). */
  cpuUsPerConn: number;
}

const valid = (runs: PeerRun[]): PeerRun[] => runs.filter((x) => x.rejected === undefined);

function ratios(r: ConnectionsResult, peer: PeerName, base: PeerName): Spread | undefined {
  const xs: number[] = [];
  for (let round = 0; round < r.config.rounds; round++) {
    const a = r.runs.find((x) => x.peer === peer && x.round === round && x.rejected === undefined);
    const b = r.runs.find((x) => x.peer === base && x.round === round && x.rejected === undefined);
    if (a && b && b.wrk.requestsPerSec > 0) xs.push(a.wrk.requestsPerSec / b.wrk.requestsPerSec);
  }
  return xs.length > 0 ? spread(xs) : undefined;
}

/** xlvs's XDP programs in the profiled run (the only one with run-time statistics on). */
export function xdpSummary(r: ConnectionsResult, cpus = availableParallelism()): XdpSummary | undefined {
  const p = r.profiled;
  if (p === undefined) return undefined;
  const perRun = (s: { runCnt: number; runTimeNs: number }): number => (s.runCnt > 0 ? s.runTimeNs / s.runCnt : 0);
  const total = p.xdp.public.runTimeNs + p.xdp.private.runTimeNs;
  return {
    publicNs: perRun(p.xdp.public),
    privateNs: perRun(p.xdp.private),
    packetsPerConn: (p.xdp.public.runCnt + p.xdp.private.runCnt) / Math.max(1, p.requests),
    nsPerConn: total / Math.max(1, p.requests),
    cpuPct: (100 * total) / (p.seconds * 1e9 * cpus),
  };
}

export function summarise(r: ConnectionsResult, cpus = availableParallelism()): PeerSummary[] {
  return PEERS.map((peer) => {
    const all = r.runs.filter((x) => x.peer === peer);
    const ok = valid(all);
    const pick = (f: (x: PeerRun) => number): Spread => (ok.length > 0 ? spread(ok.map(f)) : { median: NaN, min: NaN, max: NaN });
    const med = (f: (x: PeerRun) => number): number => (ok.length > 0 ? median(ok.map(f)) : NaN);
    return {
      peer,
      valid: ok.length,
      total: all.length,
      connPerSec: pick((x) => x.wrk.requestsPerSec),
      p50Us: pick((x) => x.wrk.latencyUs.p50),
      p99Us: pick((x) => x.wrk.latencyUs.p99),
      vsXlvs: ratios(r, peer, 'xlvs'),
      vsDirect: ratios(r, peer, 'direct'),
      cpu: {
        user: med((x) => x.cpu.userPct),
        system: med((x) => x.cpu.systemPct),
        softirq: med((x) => x.cpu.softirqPct),
        idle: med((x) => x.cpu.idlePct),
        other: med((x) => x.cpu.otherPct),
      },
      cpuUsPerConn: med((x) => (cpus * 1e6 * (100 - x.cpu.idlePct)) / 100 / x.wrk.requestsPerSec),
    };
  });
}

const k = (x: number): string => Math.round(x).toLocaleString('en-US');
const ms = (us: number): string => (us / 1000).toFixed(2);
const range = (s: Spread, f: (x: number) => string): string => `${f(s.min)} – ${f(s.max)}`;
const ratio = (s: Spread | undefined): string => (s === undefined ? 'n/a' : `${s.median.toFixed(2)} (${s.min.toFixed(2)} – ${s.max.toFixed(2)})`);
const pct = (x: number): string => x.toFixed(0);

/** Whether xlvs's programs are a small or a large part of a connection's CPU time through it. */
function conclusion(x: XdpSummary, sums: PeerSummary[]): string {
  const perConn = sums.find((s) => s.peer === 'xlvs')!.cpuUsPerConn;
  const share = (100 * x.nsPerConn) / 1000 / perConn;
  return share < 10
    ? `That is ${share.toFixed(1)}% of the ${perConn.toFixed(0)} µs of CPU a connection costs through xlvs: the rest goes to the TCP stacks, veth and bridge, not to xlvs's programs.`
    : `That is ${share.toFixed(1)}% of the ${perConn.toFixed(0)} µs of CPU a connection costs through xlvs: a large enough share to look at the programs' own cost (see the per-packet section).`;
}

/** Whether xlvs's extra CPU per connection over a peer could be its XDP programs' at all. */
function xdpVerdict(extraUs: number, xdpUs: number, peer: string): string {
  if (extraUs <= 0) return `xlvs used no more CPU per connection than ${peer}: the difference is not in CPU cost but in how the work was scheduled (latency) or in noise.`;
  if (extraUs > xdpUs) return `xlvs's ${extraUs.toFixed(0)} µs more CPU per connection than ${peer} is more than all of its XDP time: the rest is outside xlvs's programs (the redirected frames becoming skbs on the far veths, the bridge, the TCP stacks of wrk and nginx; see the profile) or the shared machine's noise.`;
  return `xlvs's ${extraUs.toFixed(0)} µs more CPU per connection than ${peer} is within its XDP time (${xdpUs.toFixed(1)} µs).`;
}

const overlap = (a: Spread, b: Spread): boolean => a.min <= b.max && b.min <= a.max;

/**
 * Sentences on where xlvs loses to a peer (conn/s lower, or p50/p99 higher, in the medians) and
 * where the time went, from the CPU split and xlvs's own program statistics.
 */
export function lossNotes(sums: PeerSummary[], xdp: XdpSummary | undefined): string[] {
  const x = sums.find((s) => s.peer === 'xlvs')!;
  const split = (s: PeerSummary): string => `${[s.cpu.user, s.cpu.system, s.cpu.softirq, s.cpu.idle].map(pct).join('/')}, ${s.cpuUsPerConn.toFixed(0)} µs CPU per connection`;
  const out: string[] = [];
  for (const s of sums) {
    if (s.peer === 'xlvs' || s.valid === 0 || x.valid === 0) continue;
    const lost: string[] = [];
    const noise = (a: Spread, b: Spread): string => (overlap(a, b) ? ' (the spreads overlap: within this run\'s noise)' : '');
    if (s.vsXlvs !== undefined && s.vsXlvs.median > 1) lost.push(`conn/s ${k(s.connPerSec.median)} vs ${k(x.connPerSec.median)}${noise(s.connPerSec, x.connPerSec)}`);
    if (s.p50Us.median < x.p50Us.median) lost.push(`p50 ${ms(s.p50Us.median)} vs ${ms(x.p50Us.median)} ms${noise(s.p50Us, x.p50Us)}`);
    if (s.p99Us.median < x.p99Us.median) lost.push(`p99 ${ms(s.p99Us.median)} vs ${ms(x.p99Us.median)} ms${noise(s.p99Us, x.p99Us)}`);
    if (lost.length === 0) continue;
    out.push(`- xlvs loses to **${s.peer}** on ${lost.join('; ')}. CPU (user/system/softirq/idle %): ${s.peer} ${split(s)}; xlvs ${split(x)}` +
      (xdp !== undefined ? `; its XDP programs take ${(xdp.nsPerConn / 1000).toFixed(1)} µs per connection (${xdp.packetsPerConn.toFixed(1)} packets, profiled run), ${((100 * xdp.nsPerConn) / 1000 / x.cpuUsPerConn).toFixed(1)}% of that. ${xdpVerdict(x.cpuUsPerConn - s.cpuUsPerConn, xdp.nsPerConn / 1000, s.peer)}` : '.'));
  }
  if (out.length === 0) out.push('- xlvs did not lose to any peer on conn/s, p50 or p99 in the medians of this run.');
  return out;
}

function profileTables(r: ConnectionsResult): Table[] {
  const p = r.profiled!;
  const head = `One extra xlvs run after the rounds, not counted above, under \`${p.profile.command}\` (${p.profile.samples} samples, all CPUs; ${k(p.connPerSec)} conn/s under the profiler, ${p.errors} errors).`;
  const rows = Array.from({ length: Math.max(p.profile.byComm.length, p.profile.bySymbol.length) }, (_, i) => {
    const c = p.profile.byComm[i];
    const y = p.profile.bySymbol[i];
    return [c?.name ?? '', c ? c.pct.toFixed(1) : '', y?.name ?? '', y ? y.pct.toFixed(1) : ''];
  });
  const progs = p.profile.bpfPrograms.map((x) => `${x.name.replace(/^\[k\] /, '')} ${x.pct.toFixed(1)}%`).join(', ');
  return [{ caption: `${head} BPF programs in the run's processes: ${progs === '' ? 'none sampled' : progs}. Top processes of the whole machine (softirq work counts for the process it interrupted), and top functions within ${p.profile.symbolComms.join(', ')} (% of those processes' samples).`, columns: ['process', '% samples', 'function', '% samples'], rows }];
}

export function connectionsSection(r: ConnectionsResult, seconds: number): Section {
  const sums = summarise(r);
  const c = r.config;
  const cmd = r.runs[0]?.command.replace(/http:\S+/, '<target>') ?? '';
  const x = xdpSummary(r);
  return {
    id: 'connections',
    title: 'Connection rate and latency (short TCP connections)',
    command: 'node dist/bench/run.js --only connections',
    setup: [
      `- Lab: client | router | bridged LAN of ${r.reals} reals (namespaces, veth, offloads off). Every peer serves the same VIP 203.0.113.100:80; "direct" goes to the first real (10.77.0.11:80) through the router's plain kernel forwarding.`,
      `- Reals: nginx-light ${NGINX_TUNING.workers} worker processes (one per CPU), worker_connections ${NGINX_TUNING.connections}, multi_accept, listen backlog 4096 + reuseport, access_log off, keepalive_timeout 0, one 3-byte 200 reply; own conf/pid/log under a temp dir.`,
      `- Client: \`${cmd}\` in the client namespace (tcp_tw_reuse=1, ip_local_port_range 1024–65535). One request per connection: conn/s = wrk's Requests/sec.`,
      `- **xlvs**: the real xlvsd in the router namespace, one NAT TCP service on the VIP, ${REAL_COUNT} reals weight 1, default scheduler (wlc), native XDP on pub0/priv0, IPVS's default timeouts; started before and torn down (xlvsd --teardown) after each of its runs.`,
      `- **nftables**: table ip xlvs_bench_lb, nat prerouting \`dnat to numgen inc mod ${REAL_COUNT} map { 0 : rs1, … }\` (kube-proxy style), conntrack; the table is deleted after each run.`,
      `- **haproxy**: HAProxy 2.6 mode tcp, nbthread ${HAPROXY_TUNING.threads} (one per CPU), maxconn ${HAPROXY_TUNING.maxconn} (global and defaults), timeout connect 5s / client 30s / server 30s, balance ${HAPROXY_TUNING.balance}, no logging, no health checks; the router namespace has tcp_tw_reuse=1 and ports 1024–65535 for HAProxy's own connections to the reals; stopped after each run.`,
      '- **direct**: no balancer; wrk to one real. The baseline: one nginx instead of four, no balancing work.',
      `- ${c.rounds} round(s) × ${PEERS.length} peers × ${c.seconds} s; the peer order rotates each round (round r starts at peer r); \`conntrack -F\` in the router before every run; only one balancer is active at a time.`,
    ],
    tables: [
      {
        caption: 'Medians of the valid rounds (spread min – max). × xlvs / × direct: conn/s divided by xlvs\'s / direct\'s in the same round, median (min – max) over rounds.',
        columns: ['peer', 'conn/s', 'spread', '× xlvs', '× direct', 'p50 ms', 'p50 spread', 'p99 ms', 'p99 spread', 'valid runs'],
        rows: sums.map((s) => [s.peer, k(s.connPerSec.median), range(s.connPerSec, k), ratio(s.vsXlvs), ratio(s.vsDirect), ms(s.p50Us.median), range(s.p50Us, ms), ms(s.p99Us.median), range(s.p99Us, ms), `${s.valid}/${s.total}`]),
      },
      {
        caption: 'Where the CPUs went during the runs (/proc/stat, all CPUs, median % of the valid rounds; the whole machine, wrk and nginx included).',
        columns: ['peer', 'user %', 'system %', 'softirq %', 'idle %', 'other %', 'CPU µs / connection'],
        rows: sums.map((s) => [s.peer, pct(s.cpu.user), pct(s.cpu.system), pct(s.cpu.softirq), pct(s.cpu.idle), pct(s.cpu.other), s.cpuUsPerConn.toFixed(0)]),
      },
      ...(x !== undefined
        ? [{
          caption: 'xlvs\'s XDP programs in the profiled run (BPF_ENABLE_STATS run_time_ns / run_cnt; statistics on cost two clock reads per packet, included here).',
          columns: ['xlvs_public ns/packet', 'xlvs_private ns/packet', 'packets/connection', 'µs / connection', '% of all CPU time'],
          rows: [[x.publicNs.toFixed(0), x.privateNs.toFixed(0), x.packetsPerConn.toFixed(1), (x.nsPerConn / 1000).toFixed(1), x.cpuPct.toFixed(2)]],
        }]
        : []),
      ...(r.profiled !== undefined ? profileTables(r) : []),
    ],
    notes: [
      `- Method: wrk with \`Connection: close\` (nginx also closes after each reply), ${c.threads} threads, ${c.connections} connections, --timeout 2s, --latency. A run counts only if its socket errors (connect/read/write/timeout) plus non-2xx replies are at most ${c.tolerance * 100}% of its requests; a peer needs a majority of valid runs or the section fails. Rejected runs stay in the data with the reason.`,
      '- Latency is wrk\'s: from writing the request (once the connection is established) to the end of the reply. It does not include the TCP handshake, so it shows the balancer\'s path for data and FIN more than for the SYN; the rate (conn/s) includes everything.',
      '- The 2 CPUs are shared by wrk, the 4 nginx and the router\'s work (XDP and kernel forwarding run in softirq on whichever CPU took the packet), so conn/s is the whole system\'s rate: a cheaper balancer shows as more CPU left to wrk and nginx.',
      '- Ratios are per round (same minute, same noise) and then the median; compare ratios between runs, not absolute figures.',
      '- What XDP saves here: xlvs\'s packets never become skbs in the router (no netfilter, no conntrack, no routing), but every redirected frame becomes one on the far veth (its XDP-pass program hands it to the stack), and the bridge and both TCP endpoints still cost what they cost. On veths the router\'s share of the work is small, so balancers differ by little; on NICs XDP would also save the skb.',
      '- "direct" reaches one real (one nginx, 2 workers) through plain kernel forwarding; the balancers spread over 4 (8 workers on the same 2 CPUs). × direct above 1 means the spread over reals gained more than the balancer cost.',
      '- HAProxy terminates TCP: each client connection is two connections and a user-space hop, which shows in its CPU per connection.',
      ...(r.profiled !== undefined && x !== undefined ? [
        `- xlvs's own cost two ways, in the profiled run: the run-time statistics put its XDP programs at ${x.cpuPct.toFixed(1)}% of all CPU time (${(x.nsPerConn / 1000).toFixed(1)} µs per connection), which includes the statistics' own two clock reads per packet (a paravirtual clock read in this VM); perf's samples put the JITed programs themselves (bpf_prog_*) at ${r.profiled.profile.bpfPrograms.reduce((a, y) => a + y.pct, 0).toFixed(1)}% of the run's processes' samples. ${conclusion(x, sums)}`,
      ] : []),
      ...lossNotes(sums, x),
    ],
    data: { ...r, summary: sums },
    seconds,
  };
}
