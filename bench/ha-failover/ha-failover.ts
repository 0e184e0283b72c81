// SPDX-License-Identifier: Apache-2.0
// The "ha-failover" section of `make bench` (issue 15): the failover gap and the established
// connections lost when the active router dies hard (links down first, then SIGKILL), at equal
// heartbeat / advert intervals of 1 s, 100 ms and 20 ms, in the two-router HA lab (lab/ha-lab.ts):
// keepalived VRRPv3 + nftables DNAT (the peer a user would build) beside xlvs's HA (its column
// is filled by runXlvs in ha-failover-xlvs.ts). Measured by lab/failover-traffic.ts: 30 echoing
// TCP connections and a 1 ms UDP probe stream through the VIP.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pino from 'pino';
import { createHaLab, type HaLab, type RouterName } from '../../lab/ha-lab.js';
import { timedSection, type Section, type SectionRunner } from '../common/section.js';
import { dropFloating, Keepalived, waitForMaster } from './ha-failover-keepalived.js';
import { flushConntrack, loadHaNft } from './ha-failover-nft.js';
import { measureFailover, type FailoverFigures, type MeasureOptions, type NotRun } from './ha-failover-measure.js';
import { runXlvs } from './ha-failover-xlvs.js';

export interface HaFailoverSizes {
  intervalsMs: number[];
  measure: MeasureOptions;
}

export const FULL_SIZES: HaFailoverSizes = { intervalsMs: [1000, 100, 20], measure: { connections: 30, warmupMs: 2_000, resumeTimeoutMs: 15_000 } };
export const SMOKE_SIZES: HaFailoverSizes = { intervalsMs: [100], measure: { connections: 30, warmupMs: 1_000, resumeTimeoutMs: 10_000 } };

export type Outcome = FailoverFigures | NotRun;

export interface HaFailoverResult {
  sizes: HaFailoverSizes;
  keepalived: Outcome[];
  xlvs: Outcome[];
}

/** How long keepalived may take to settle r1 as master at start (3 adverts plus skew, and slack). */
const MASTER_TIMEOUT_MS = 15_000;

async function keepalivedRound(lab: HaLab, dir: string, intervalMs: number, m: MeasureOptions, log: pino.Logger): Promise<Outcome> {
  const v4 = lab.addr.v4;
  const routers: RouterName[] = ['r1', 'r2'];
  for (const r of routers) await flushConntrack(lab, r);
  const ka = routers.map((router) => Keepalived.start(lab, dir, { router, intervalMs, vip: v4.vip, gateway: v4.gateway }));
  try {
    const settled = await waitForMaster(lab, 'r1', v4.vip, v4.gateway, MASTER_TIMEOUT_MS).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; r1: ${ka[0]!.output.slice(-1500)}`);
    });
    log.info({ intervalMs, settledMs: settled }, 'keepalived: r1 is master');
    const f = await measureFailover(lab, intervalMs, m, () => ka[0]!.killHard());
    // The backup holds both addresses now (else the gap measured was not a takeover).
    await waitForMaster(lab, 'r2', v4.vip, v4.gateway, 2_000, false);
    return f;
  } finally {
    // Restore: r2's keepalived resigns and removes its addresses; r1's links come back without
    // the addresses its killed keepalived left; no conntrack state carries into the next round.
    for (const k of ka) await k.stop().catch((err: unknown) => log.error({ err, router: k.router }, 'keepalived stop failed'));
    await lab.linksUp('r1');
    for (const r of routers) await dropFloating(lab, r, v4.vip, v4.gateway);
    for (const r of routers) await flushConntrack(lab, r);
  }
}

const failed = (intervalMs: number, err: unknown): NotRun => ({ ran: false, intervalMs, reason: `failed: ${err instanceof Error ? err.message : String(err)}` });

export async function runHaFailover(s: HaFailoverSizes, log: pino.Logger): Promise<HaFailoverResult> {
  const lab = await createHaLab({ reals: 3, v6: false, log });
  const dir = mkdtempSync(join(tmpdir(), `${lab.prefix}ha-failover-`));
  try {
    await lab.startRealServers();
    const v4 = lab.addr.v4;
    const keepalived: Outcome[] = [];
    for (const r of ['r1', 'r2'] as const) await loadHaNft(lab, r, { vip: v4.vip, tcpPort: lab.ports.tcp, udpPort: lab.ports.udp, reals: v4.reals });
    for (const intervalMs of s.intervalsMs) {
      keepalived.push(await keepalivedRound(lab, dir, intervalMs, s.measure, log).catch((err: unknown) => failed(intervalMs, err)));
    }
    for (const r of ['r1', 'r2'] as const) await lab.exec(lab.routerNs(r), ['nft', 'delete', 'table', 'ip', 'xlvs_bench_ha']);

    const xlvs: Outcome[] = [];
    for (const intervalMs of s.intervalsMs) {
      // xlvs (ha-failover-xlvs.ts): the same lab, the same interval, the same measurement.
      const ctx = { lab, log, tcpPort: lab.ports.tcp, udpPort: lab.ports.udp, measure: (kill: () => Promise<void>) => measureFailover(lab, intervalMs, s.measure, kill) };
      xlvs.push(await runXlvs(intervalMs, ctx).catch((err: unknown) => failed(intervalMs, err)));
    }
    return { sizes: s, keepalived, xlvs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await lab.destroy();
  }
}

const fmtInterval = (ms: number): string => (ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`);
const gapCell = (o: Outcome | undefined): string => (o === undefined ? 'not run' : o.ran ? String(o.gapMs) : o.reason.startsWith('not run') ? 'not run' : 'failed');
const lostCell = (o: Outcome | undefined): string => (o === undefined || !o.ran ? gapCell(o) : `${o.lost} / ${o.connections} (${o.reset} reset, ${o.stalled} stalled)`);

export function renderHaFailover(r: HaFailoverResult, seconds: number): Section {
  const n = r.sizes.measure.connections;
  const problems = [...r.keepalived.map((o) => ['keepalived', o] as const), ...r.xlvs.map((o) => ['xlvs', o] as const)].filter(([, o]) => !o.ran);
  return {
    id: 'ha-failover',
    title: 'HA failover: gap and connections lost when the master dies',
    command: 'node dist/bench/run.js --only ha-failover',
    seconds,
    tables: [{
      caption: `The master killed hard (its links down, then SIGKILL), ${n} established TCP connections moving data and a 1 ms UDP probe stream through the VIP. Gap: the longest time without a UDP answer (ms).`,
      columns: ['interval', 'keepalived gap (ms)', 'keepalived lost', 'xlvs gap (ms)', 'xlvs lost'],
      rows: r.sizes.intervalsMs.map((ms, i) => [fmtInterval(ms), gapCell(r.keepalived[i]), lostCell(r.keepalived[i]), gapCell(r.xlvs[i]), lostCell(r.xlvs[i])]),
    }],
    setup: [
      '- Lab: lab/ha-lab.ts: client on a public bridge with two routers; both routers and three reals on a private bridge; the reals\' default route is the floating gateway 10.77.0.1.',
      '- keepalived (Debian\'s, VRRPv3, VRRP only): per router one instance on pub0 holding the VIP and one on priv0 holding the gateway, in one sync group; advert_int = the interval; priority 150 (r1) / 100 (r2); preempt on. No conntrackd.',
      '- nftables on both routers: DNAT of the VIP\'s TCP and UDP ports to `numgen inc mod 3` over the reals; conntrack on.',
      '- xlvs: xlvsd on both routers with `ha:` at the same interval (dead time 3 intervals), nat to the same reals, in the same lab, measured the same way (bench/ha-failover/ha-failover-xlvs.ts, testing/ha-pair.ts).',
    ],
    notes: [
      `- Traffic: lab/failover-traffic.ts: ${n} connections each sending a checked echo request every 5 ms; one UDP flow probing every 1 ms, each probe answered by a real.`,
      '- Lost = reset (RST) + stalled (alive but no echo for over 2 s, read once the probes are answered again and TCP\'s backed-off retransmissions had time: twice the gap plus 2.5 s) + closed.',
      '- keepalived\'s backup takes over with an empty conntrack table: nftables picks a real afresh for the first mid-stream packet of each connection it sees from the client (`numgen`), so a connection survives only if that pick is its original real (about 1 in 3). The longer the outage, the more often the real\'s own retransmission reaches the backup first: it matches no DNAT, goes to the client un-NATed from the real\'s address, the client answers RST and the connection is lost whatever the pick.',
      '- Each interval is one kill (no repeats): the gap depends on where in the advert cycle the kill falls.',
      ...problems.map(([who, o]) => `- ${who} at ${fmtInterval(o.intervalMs)}: ${(o as NotRun).reason}`),
    ],
    data: r,
  };
}

function log_(r: HaFailoverResult, log: pino.Logger): void {
  for (const o of [...r.keepalived, ...r.xlvs]) log.info(o.ran ? { intervalMs: o.intervalMs, gapMs: o.gapMs, lost: o.lost } : { intervalMs: o.intervalMs, reason: o.reason }, 'ha-failover');
}

export const haFailover: SectionRunner = timedSection(
  'ha-failover',
  'HA failover: gap and connections lost when the master dies',
  (o) => runHaFailover(o.smoke ? SMOKE_SIZES : FULL_SIZES, o.log),
  renderHaFailover,
  log_,
);
