// SPDX-License-Identifier: Apache-2.0
// Renders a flow-scale run as a report section: tables of every measured figure and notes saying
// how each was made, with the figures the conclusions rest on computed from the same run.

import type { Section } from '../common/section.js';
import type { FlowScaleResult } from './flow-scale.js';
import type { RateFigure } from './flow-scale-rate.js';
import { spread } from '../common/stats.js';

const int = (x: number): string => Math.round(x).toLocaleString('en-US');
const pct = (part: number, whole: number): string => (whole === 0 ? '–' : `${((100 * part) / whole).toFixed(2)} %`);

function rateRow(rs: RateFigure[], xlvsMedian: number): Array<string | number> {
  const s = spread(rs.map((r) => r.perSecond));
  return [rs[0]!.peer, int(s.median), `${int(s.min)} – ${int(s.max)}`, (s.median / xlvsMedian).toFixed(2),
    pct(rs.reduce((a, r) => a + r.delivered, 0), rs.reduce((a, r) => a + r.sent, 0)), int(spread(rs.map((r) => r.tracked)).median)];
}

export function flowScaleSection(r: FlowScaleResult, seconds: number): Section {
  const m = r.map;
  const perEntry = m.bytesMemlock / m.maxEntries;
  const xr = r.rate.filter((x) => x.peer === 'xlvs');
  const nr = r.rate.filter((x) => x.peer === 'nftables');
  const xMedian = spread(xr.map((x) => x.perSecond)).median;
  const ctSlab = spread(nr.map((x) => x.slabBytesPerEntry ?? 0));
  const f = r.flood;
  const fo = f.options;
  const truthInactive = f.census.halfOpen + f.census.otherStates;
  const big = r.held.at(-1)!;
  return {
    id: 'flow-scale',
    title: 'Flow scale: flows held, memory per flow, new-flow rate, SYN flood',
    command: 'node dist/bench/run.js --only flow-scale',
    setup: [
      '- Lab: client | router | lan (namespaces, veth, offloads off). xlvs: the real `build/xlvs.bpf.o` with its own pin dir, configured by the Reconciler: two wlc services on 203.0.113.100, port 80 → 10.77.0.11-14:8080 (new flows, the flood) and port 443 → 10.77.0.21-24:8443 (the established flows); NAT; IPVS default timeouts; permanent neighbours for the reals.',
      '- "Held" and the established flows\' handshakes: distinct SYN frames through `xlvs_public` (and SYN-ACKs through `xlvs_private`) with BPF_PROG_TEST_RUN in the router namespace, as the per-packet section opens new flows.',
      `- Live traffic: the generator is an ${r.generator} (bench/traffic/loop-gen.ts: one seed frame circulating in a private veth pair in the client namespace, copied by an XDP program through a broadcast DEVMAP, each copy to the client's eth0 rewritten into the next frame of the stream by a devmap program; no system call or skb per frame), TCP SYNs from random sources of 198.18.0.0/15 and random ports; xlvs attached (native XDP links) to pub0/priv0; the count-and-drop sink (bench/traffic/live-sink.ts) on the lan end of priv0, counting per destination.`,
      `- nftables peer: the same router without xlvs (an XDP pass program on pub0/priv0 so the veth takes generated frames), kernel forwarding, \`dnat to numgen inc mod 4 map { … } : 8080\` in a prerouting nat chain (nftables' documented load-balancing rule); conntrack flushed (\`conntrack -F\`) before each round; nf_conntrack_max left at the machine's default.`,
      `- New-flow rate: ${r.rate.length / 2} round(s) of ${int(r.rate[0]?.sent ?? 0)} SYNs per peer, xlvs then nftables in each round; xlvs's table emptied before its round. Median of rounds, min – max.`,
      `- Flood: ${fo.busy} busy + ${fo.idle} idle established flows (handshake done, state established), then ${int(fo.floodSyns)} flood SYNs in slices of ${int(fo.slice)}; after each slice every busy flow sends one ACK (live, counted by the sink) and its real one ACK back (test run of xlvs_private, verdict counted); idle flows send nothing until they are probed after the flood.`,
    ],
    tables: [
      {
        caption: 'The flow table and kernel memory per flow',
        columns: ['', 'xlvs (flows map)', 'nftables (nf_conntrack)'],
        rows: [
          ['table', `${m.type}, ${int(m.maxEntries)} entries, preallocated`, 'grows per connection, up to nf_conntrack_max'],
          ['entries per connection', '2 (forward + reply, both directions looked up in one hash)', '1 (both tuples in one object)'],
          ['connections it holds', int(m.maxEntries / 2), 'nf_conntrack_max'],
          ['bytes per entry (kernel\'s figure)', `${perEntry.toFixed(0)} (map memlock ${int(m.bytesMemlock)} / ${int(m.maxEntries)}; key ${m.keyBytes} + value ${m.valueBytes})`, r.conntrackObjectBytes === undefined ? '–' : `${r.conntrackObjectBytes} (slab object size)`],
          ['bytes per connection, measured', `${(2 * perEntry).toFixed(0)} (taken at load, whether used or not)`, nr.length ? `${ctSlab.median.toFixed(0)} (Slab growth / entries; ${ctSlab.min.toFixed(0)} – ${ctSlab.max.toFixed(0)})` : '–'],
        ],
      },
      {
        caption: 'Flows held (distinct SYNs through xlvs_public; census of the map afterwards)',
        columns: ['flows opened', 'forwarded', 'table entries', 'connections with both entries', `first ${r.held[0]?.first.checked ?? 0}: same real / lost`, 'last: same real / lost', 'InActConn shown / half-open in table', 'after the probes\' ACKs and a reap pass: ActiveConn / InActConn', 'ns per SYN: empty / full table', 'reap pass (ms)'],
        rows: r.held.map((h) => [int(h.flows), int(h.redirected), int(h.census.entries), int(h.census.complete),
          `${h.first.sameReal} / ${h.first.lost}`, `${h.last.sameReal} / ${h.last.lost}`, `${int(h.counts.inactive)} / ${int(h.census.halfOpen)}`, `${int(h.countsAfterReap.active)} / ${int(h.countsAfterReap.inactive)}`,
          `${int(h.newFlowNsEmpty)} / ${int(h.newFlowNsFull)}`, h.reapMs.toFixed(0)]),
      },
      {
        caption: 'Sustained new-flow rate (SYNs from random sources, counted after the router)',
        columns: ['peer', 'new flows/s', 'spread', '× xlvs', 'delivered / sent', 'tracked after the round'],
        rows: [xr, nr].filter((x) => x.length > 0).map((x) => rateRow(x, xMedian)),
      },
      {
        caption: 'SYN flood with established flows (xlvs)',
        columns: ['figure', 'value'],
        rows: [
          ['flood SYNs sent / forwarded to reals', `${int(f.floodSent)} / ${int(f.floodForwarded)} (${pct(f.floodForwarded, f.floodSent)})`],
          ['flood rate (SYNs forwarded per second of flood)', int(f.floodPerSecond)],
          ['busy flows: packets each way per flow per second', f.busyPacketsPerSecond.toFixed(1)],
          ['busy flows, client → real: sent / delivered (loss)', `${int(f.busyForward.sent)} / ${int(f.busyForward.delivered)} (${pct(f.busyForward.sent - f.busyForward.delivered, f.busyForward.sent)})`],
          ['busy flows, real → client: sent / forwarded (loss)', `${int(f.busyReply.sent)} / ${int(f.busyReply.delivered)} (${pct(f.busyReply.sent - f.busyReply.delivered, f.busyReply.sent)})`],
          ['busy flows still working both ways afterwards', `${f.busyIntact} of ${fo.busy}`],
          ['idle flows still working both ways afterwards', `${f.idleIntact} of ${fo.idle}`],
          ['table after the flood: entries / complete connections', `${int(f.census.entries)} / ${int(f.census.complete)}`],
          ['live forward entries: established / half-open / other', `${int(f.census.established)} / ${int(f.census.halfOpen)} / ${int(f.census.otherStates)}`],
          ['half-open entries: median seconds to their deadline', f.census.halfOpenSecondsLeft.toFixed(1)],
          ['ActiveConn shown / established in table', `${int(f.counts.active)} / ${int(f.census.established)}`],
          ['InActConn shown / inactive in table', `${int(f.counts.inactive)} / ${int(truthInactive)}`],
          ['ActiveConn / InActConn after one reap pass (its recount)', `${int(f.countsAfterReap.active)} / ${int(f.countsAfterReap.inactive)}`],
        ],
      },
    ],
    notes: [
      '- **Method.** Every figure is from this run. Held flows and the established flows\' handshakes go through the real programs by BPF_PROG_TEST_RUN (verdict and output frame checked); the table is read back in raw batches (bpf_map_lookup_batch) and emptied with bpf_map_lookup_and_delete_batch between cases (which counts nothing down, so the counts are zeroed with it). "Same real" = the client\'s ACK after all the SYNs still leaves for the real its SYN went to. ns per SYN = the kernel\'s time for one test run (median over the first and the last tenth opened; includes the test-run overhead, so compare the two, not with the per-packet section).',
      `- **Capacity.** The flows map holds ${int(m.maxEntries)} entries, two per connection: ${int(m.maxEntries / 2)} connections. ${big.flows > m.maxEntries / 2
        ? `${int(big.flows)} flows do not fit: the table kept ${int(big.census.complete)} complete connections (the LRU evicts both entries of the oldest together, as they were inserted together) and the first-opened flows were gone (${big.first.lost} of ${big.first.checked} lost).`
        : `${int(big.flows)} flows fit: ${int(big.census.complete)} complete connections held, the first-opened still on their real (${big.first.sameReal} of ${big.first.checked}).`} The size is xlvsd's \`flow_entries\` (default 1,048,576 entries: 524,288 connections); this run set ${int(m.maxEntries)} (≈ ${int((m.maxEntries * perEntry) / 2 ** 20)} MiB preallocated at ${perEntry.toFixed(0)} B/entry).`,
      `- **Counts after eviction.** The data path never counts an evicted entry down: after ${int(big.flows)} SYNs it showed InActConn ${int(big.counts.inactive)} for ${int(big.census.halfOpen)} half-open flows in the table; after the probes' ACKs and one reap pass (the recount) ActiveConn / InActConn were ${int(big.countsAfterReap.active)} / ${int(big.countsAfterReap.inactive)}.`,
      '- **Memory.** LRU hash maps are preallocated: the whole table is taken when the program is loaded and filling it adds nothing (so the measured per-connection figure is the kernel\'s own accounting of the map, memlock, divided by the connections it holds). nftables\' figure is the Slab growth over a round divided by the conntrack entries made (noisy: other processes allocate slab too; the slab object size alone is the floor).',
      '- **Rate.** Generator, router and sink run on one CPU of the VM\'s 2, in that CPU\'s softirq, the generator paced by the router (it only makes the next copies once the router\'s NAPI has taken the last ones); the figure is SYNs delivered after the router per second of the generator\'s run (kernel clock, first round to last), with every SYN a new flow (xlvs: scheduled, two entries inserted; nftables: a conntrack entry and NAT binding). The forwarding section\'s baseline row says what the generator alone can offer.',
      `- **Flood.** The flood's SYNs are forwarded to the reals (xlvs has no SYN cookies or flood defence: each SYN is a new half-open flow). It made ${int(f.floodForwarded)} new connections, ${(f.floodForwarded / (m.maxEntries / 2)).toFixed(1)}× what the table holds; ${f.busyIntact} of ${fo.busy} busy and ${f.idleIntact} of ${fo.idle} idle established flows still worked afterwards. Half-open flows are their own state (TCP_SYN): counted inactive like IPVS's SYN_RECV, with a 60 s deadline instead of 900 s, so the reaper removes a flood's entries a minute after it ends (median ${f.census.halfOpenSecondsLeft.toFixed(0)} s left here).`,
      `- **LRU or not: keep the LRU.** The kernel's LRU gives a second chance to entries looked up since they were inserted: an established flow's entries were (handshake, traffic), a flood entry never is, so the flood evicts its own entries first (the numbers above). A plain hash would instead refuse every new connection, legitimate ones too, from the moment a flood fills it until its half-open entries expire (60 s). What the LRU did break, measured here: the connection counts (evicted entries were never counted down: ${int(f.counts.inactive)} InActConn shown for ${int(truthInactive)} inactive flows in the table after the flood), fixed by the reaper's recount (${int(f.countsAfterReap.active)} / ${int(f.countsAfterReap.inactive)} after one pass); and flows beyond capacity, which is the table's size, not its policy (see Capacity).`,
      `- **Where xlvs loses.** Memory: ${(2 * perEntry).toFixed(0)} B per connection (two entries) against ${nr.length ? ctSlab.median.toFixed(0) : '–'} B per conntrack entry, and all of it (${int(m.bytesMemlock / 2 ** 20)} MiB) taken at load whether used or not. A new flow costs more once the table is full: ${int(big.newFlowNsEmpty)} → ${int(big.newFlowNsFull)} ns per SYN in test runs (the LRU's eviction on insert). The reaper's pass walks every bucket of the table (${big.reapMs.toFixed(0)} ms at ${int(big.census.entries)} entries), every 5 s.`,
      '- **Caveats.** The established flows\' reply direction is driven by test runs, not by the generator (it varies sources, not destination ports). Figures are from a shared 2-CPU VM; rates carry its noise (see the spreads).',
    ],
    data: r,
    seconds,
  };
}
