// SPDX-License-Identifier: Apache-2.0
// The measurements of the ha-sync section: in the HA lab with both xlvsd routers (testing/ha-pair.ts)
// in sync, SYNs from many sources (testing/ha-flows.ts) make new flows on r1 as fast as one
// AF_PACKET sender can. Measured in one run:
//  - the data plane's new-flow rate: flows in r1's table / the time the SYNs took;
//  - the streamed sync: from the first SYN until r2's table (its pinned map, read from here)
//    holds them all (or stops growing): flows/s carried, the lag after the last SYN, r2's reported
//    lag, the flows r1's ring could not queue (syncLost), and each daemon's CPU (utime + stime);
//  - the bulk: r2 stopped, its table emptied, started again: r1 sends its whole table; flows/s
//    from r1's sender connecting to r2 acknowledging the whole table (r1's log), and the CPU of
//    both from the moment r2's sync port opens (r2 already up and idle) to its bulkDone.

import { closeSync, readFileSync } from 'node:fs';
import { HaPair, TCP_PORT } from '../../testing/ha-pair.js';
import { countFloodFlows, openFlows, prepareFlood, SynFlood } from '../../testing/ha-flows.js';
import { walkFlows } from '../flow-scale/flow-scale-walk.js';
import type { RouterName } from '../../lab/ha-lab.js';
import { USER_HZ } from '../common/cpu.js';
import { BenchError } from '../common/errors.js';

export interface HaSyncSizes {
  /** New flows made on r1 while streaming. */
  flows: number;
  /** flow_entries of both routers (2 entries a flow). */
  flowEntries: number;
}

export interface Cpu {
  /** Seconds of CPU (user + system) the daemon used in the phase. */
  seconds: number;
  /** Of one core, over the phase's wall time (%). */
  percent: number;
  /** Microseconds of CPU per flow carried. */
  usPerFlow: number;
}

export interface StreamFigures {
  sent: number;
  sendSeconds: number;
  /** Flows in r1's table after the SYNs, and the rate the data plane made them at. */
  onR1: number;
  dataPlanePerSecond: number;
  /** Flows in r2's table at the end of the phase. */
  onR2: number;
  /** With the bulk that follows a ring overflow: flows on r2 at the end, and when (ms after the first SYN). */
  onR2AtEnd: number;
  completeAfterMs: number;
  /** From the first SYN until r2 held them all (or its table stopped growing). */
  syncSeconds: number;
  syncPerSecond: number;
  /** r2 complete this long after the last SYN went out (ms). */
  tailLagMs: number;
  /** r2's reported lag (emission to install, last batch) at the end, and the most seen while polling. */
  reportedLagMs: number;
  maxReportedLagMs: number;
  /** Records r1's data plane could not queue in the ring (ring full) during the phase. */
  syncLost: number;
  cpu: Record<RouterName, Cpu>;
}

export interface BulkFigures {
  flows: number;
  seconds: number;
  perSecond: number;
  cpu: Record<RouterName, Cpu>;
}

export interface HaSyncResult {
  sizes: HaSyncSizes;
  stream: StreamFigures;
  bulk: BulkFigures;
}

/** utime + stime of a process, in ticks (/proc/PID/stat fields 14 and 15). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

class CpuMeter {
  private readonly start: Record<RouterName, number>;
  private readonly t0 = Date.now();
  constructor(private readonly pids: Record<RouterName, number>) {
    this.start = { r1: cpuTicks(pids.r1), r2: cpuTicks(pids.r2) };
  }
  read(flows: number): Record<RouterName, Cpu> {
    const wall = (Date.now() - this.t0) / 1000;
    const one = (r: RouterName): Cpu => {
      const seconds = (cpuTicks(this.pids[r]) - this.start[r]) / USER_HZ;
      return { seconds, percent: Math.round((seconds / wall) * 1000) / 10, usPerFlow: flows > 0 ? Math.round((seconds * 1e6) / flows * 10) / 10 : 0 };
    };
    return { r1: one('r1'), r2: one('r2') };
  }
}

/** The sync port of the pair's config (the default). */
const SYNC_PORT = 7708;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pids = (pair: HaPair): Record<RouterName, number> => ({ r1: pair.daemon('r1').pid, r2: pair.daemon('r2').pid });

/** Polls r2's census until it reaches `want` or has not grown for `stallMs`; returns the count and when it got there. */
async function waitCensus(pair: HaPair, fd: number, want: number, stallMs: number, onPoll: () => Promise<void>, onGrow: (count: number) => void = () => undefined): Promise<{ count: number; at: number }> {
  const vip = pair.lab.addr.v4.vip;
  let count = 0;
  let at = Date.now();
  for (;;) {
    await onPoll();
    const c = countFloodFlows(fd, vip);
    if (c > count) {
      count = c;
      at = Date.now();
      onGrow(c);
    }
    if (count >= want || Date.now() - at > stallMs) return { count, at };
    await sleep(20);
  }
}

async function streamPhase(pair: HaPair, s: HaSyncSizes, r1Fd: number, r2Fd: number): Promise<StreamFigures> {
  const vip = pair.lab.addr.v4.vip;
  const flood = new SynFlood(pair.lab, 'r1', TCP_PORT);
  try {
    const lost0 = (await pair.status('r1')).counters.syncLost;
    const cpu = new CpuMeter(pids(pair));
    const t0 = Date.now();
    // In slices, so that the daemons' API (and this process's timers) are not starved.
    let sent = 0;
    for (let i = 0; i < s.flows; i += 16_384) {
      sent += flood.send(i, Math.min(16_384, s.flows - i));
      await new Promise((r) => setImmediate(r));
    }
    const sentAt = Date.now();
    let maxLag = 0;
    // The stream: until r2 holds every flow, or its table stops growing (records the ring could
    // not queue); CPU read at each growth, so the wait for a stall is not in it.
    let cpuFig = cpu.read(0);
    const streamed = await waitCensus(pair, r2Fd, s.flows, 3_000, async () => {
      maxLag = Math.max(maxLag, (await pair.status('r2')).sync.in.lagMs);
    }, (n) => (cpuFig = cpu.read(n)));
    const onR1 = countFloodFlows(r1Fd, vip);
    // Then what the ring lost, carried by the bulk r1 sends when it sees the ring overflowed.
    const done = streamed.count >= onR1 ? streamed : await waitCensus(pair, r2Fd, onR1, 10_000, async () => undefined);
    const r1 = await pair.status('r1');
    const r2 = await pair.status('r2');
    const sendSeconds = (sentAt - t0) / 1000;
    const syncSeconds = (streamed.at - t0) / 1000;
    return {
      sent, sendSeconds, onR1, dataPlanePerSecond: Math.round(onR1 / sendSeconds), onR2: streamed.count, syncSeconds,
      syncPerSecond: Math.round(streamed.count / syncSeconds), tailLagMs: Math.max(0, streamed.at - sentAt),
      onR2AtEnd: done.count, completeAfterMs: done.at - t0,
      reportedLagMs: r2.sync.in.lagMs, maxReportedLagMs: maxLag, syncLost: r1.counters.syncLost - lost0, cpu: cpuFig,
    };
  } finally {
    flood.close();
  }
}

/** Unix ms of the last line of the daemon's log with this message, after `since`. */
function logTime(output: string, msg: string, since: number): number | undefined {
  let at: number | undefined;
  for (const line of output.split('\n')) {
    if (!line.includes(msg)) continue;
    try {
      const o = JSON.parse(line) as { time?: number; msg?: string };
      if (o.msg === msg && typeof o.time === 'number' && o.time >= since) at = o.time;
    } catch {
      continue; // not a pino line (stderr text)
    }
  }
  return at;
}

async function bulkPhase(pair: HaPair, r2Fd: number, flows: number): Promise<BulkFigures> {
  // r2 away, its table emptied (the pinned map outlives the daemon), back with its sync port
  // closed (TCP reset, so r1's sender retries every interval); the meters start once it is up and
  // idle, then the port opens and r1's bulk refills r2's table.
  const lab = pair.lab;
  const ns = lab.routerNs('r2');
  await lab.exec(ns, ['nft', `add table inet xlvsbulk
    add chain inet xlvsbulk in { type filter hook input priority 0; }
    add rule inet xlvsbulk in tcp dport ${SYNC_PORT} reject with tcp reset`]);
  await pair.daemon('r2').stop();
  walkFlows(r2Fd, () => undefined, true);
  await pair.start('r2');
  await sleep(500);
  const cpu = new CpuMeter(pids(pair));
  const opened = Date.now();
  await lab.exec(ns, ['nft', 'delete', 'table', 'inet', 'xlvsbulk']);
  const end = Date.now() + 120_000;
  for (;;) {
    const st = await pair.status('r2');
    if (st.sync.in.bulkDone) break;
    if (Date.now() > end) throw new BenchError(`r2's bulk not done within 120 s: ${JSON.stringify(st.sync)}`);
    await sleep(10);
  }
  const cpuFig = cpu.read(flows);
  const have = countFloodFlows(r2Fd, lab.addr.v4.vip);
  if (have < flows) throw new BenchError(`after the bulk r2 holds ${have} of the ${flows} flows`);
  // The bulk's own time, by r1's log: its sender connected, then r2 acknowledged the whole table.
  await pair.waitFor('r1', (x) => x.sync.out.bulkDone, 10_000, 'r1 sees its bulk acknowledged');
  let from: number | undefined;
  let to: number | undefined;
  for (let i = 0; i < 100 && to === undefined; i++, await sleep(20)) {
    const out = pair.daemon('r1').output; // read from the daemon's pipe as it comes
    from = logTime(out, 'sync: connected to the peer', opened);
    to = logTime(out, 'sync: the peer holds our table', opened);
  }
  if (from === undefined || to === undefined) throw new BenchError(`r1's log lacks the bulk's start or end (connected ${from}, held ${to})`);
  const seconds = Math.max(0.001, (to - from) / 1000);
  return { flows: have, seconds, perSecond: Math.round(have / seconds), cpu: { r1: rescale(cpuFig.r1, have), r2: rescale(cpuFig.r2, have) } };
}

/** CPU per flow of the flows the bulk carried. */
function rescale(c: Cpu, flows: number): Cpu {
  return { ...c, usPerFlow: flows > 0 ? Math.round((c.seconds * 1e6) / flows * 10) / 10 : 0 };
}

export async function runHaSync(s: HaSyncSizes): Promise<HaSyncResult> {
  const pair = await HaPair.create({ method: 'nat', flowEntries: s.flowEntries });
  let r1Fd = -1;
  let r2Fd = -1;
  try {
    await pair.waitSteady(30_000);
    await prepareFlood(pair.lab);
    r1Fd = openFlows(pair.lab, 'r1');
    r2Fd = openFlows(pair.lab, 'r2');
    const stream = await streamPhase(pair, s, r1Fd, r2Fd);
    const bulk = await bulkPhase(pair, r2Fd, Math.min(stream.onR1, s.flows));
    return { sizes: s, stream, bulk };
  } finally {
    if (r1Fd >= 0) closeSync(r1Fd);
    if (r2Fd >= 0) closeSync(r2Fd);
    await pair.destroy();
  }
}
