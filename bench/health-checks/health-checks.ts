// SPDX-License-Identifier: Apache-2.0
// The "health-checks" section of `make bench` (issue 5, issue 4 item 6): 10,000 checks at a 1 s
// interval run by the real xlvsd against targets that really answer; checks per second achieved
// and the daemon's own CPU, which must stay under 25% of one core. Variants: tcp as SYNs and as
// connect() (10,000 each), http (2,000) and exec of /bin/true (1,000: they spawn). keepalived's TCP_CHECK over the same reals is
// the peer, run for real (it needs IPVS).

import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { threadNapi } from './health-checks-napi.js';
import type pino from 'pino';
import { Lab } from '../../lab/lab.js';
import { checkCount, EXEC_COMMAND, type HealthWorkload } from './health-checks-config.js';
import { HealthTarget } from './health-checks-target.js';
import { runVariant, type VariantFigures, type VariantPlan } from './health-checks-run.js';
import { runKeepalived, type KeepalivedFigures } from './health-checks-keepalived.js';
import { timedSection, type Section, type SectionRunner } from '../common/section.js';

/** Issue 5: the daemon under 25% of one core at 10,000 checks per second. */
export const CPU_TARGET_PCT = 25;

interface Sizes {
  addresses: number;
  ports: number;
  variants: VariantPlan[];
  keepalivedWindowMs: number;
}

const check = { intervalMs: 1000, timeoutMs: 500, jitter: 0.1 };
const plan = (w: Omit<HealthWorkload, 'intervalMs' | 'timeoutMs' | 'jitter'>, windowMs: number, settleMs: number, slices: number): VariantPlan => ({
  workload: { ...w, ...check }, settleMs, windowMs, slices, upTimeoutMs: 60_000,
});

const FULL: Sizes = {
  addresses: 100,
  ports: 100,
  variants: [
    plan({ kind: 'none', services: 1250, realsPerService: 8, addresses: 100, ports: 100 }, 30_000, 5_000, 6),
    plan({ kind: 'tcp', services: 1250, realsPerService: 8, addresses: 100, ports: 100 }, 30_000, 5_000, 6),
    plan({ kind: 'tcp-connect', services: 1250, realsPerService: 8, addresses: 100, ports: 100 }, 30_000, 5_000, 6),
    // 10,000 http checks a second overload the daemon (its API stops answering): 2,000 measure
    // what one costs.
    plan({ kind: 'http', services: 250, realsPerService: 8, addresses: 100, ports: 100 }, 30_000, 5_000, 6),
    plan({ kind: 'exec', services: 125, realsPerService: 8, addresses: 100, ports: 100 }, 30_000, 5_000, 6),
  ],
  keepalivedWindowMs: 30_000,
};
const SMOKE: Sizes = {
  addresses: 20,
  ports: 10,
  variants: [
    plan({ kind: 'none', services: 25, realsPerService: 8, addresses: 20, ports: 10 }, 2_000, 0, 2),
    plan({ kind: 'tcp', services: 25, realsPerService: 8, addresses: 20, ports: 10 }, 5_000, 1_000, 5),
    plan({ kind: 'tcp-connect', services: 25, realsPerService: 8, addresses: 20, ports: 10 }, 3_000, 500, 3),
    plan({ kind: 'http', services: 25, realsPerService: 8, addresses: 20, ports: 10 }, 3_000, 500, 3),
    plan({ kind: 'exec', services: 5, realsPerService: 8, addresses: 20, ports: 10 }, 3_000, 500, 3),
  ],
  keepalivedWindowMs: 3_000,
};

export interface HealthChecksResult {
  sizes: Sizes;
  variants: VariantFigures[];
  /** Variants that did not complete (e.g. the daemon too busy to answer ListHealth in 10 s). */
  failed: Array<{ kind: string; checks: number; error: string }>;
  keepalived: KeepalivedFigures;
}

export async function runHealthChecks(s: Sizes, log: pino.Logger, smoke = false): Promise<HealthChecksResult> {
  const lab = await Lab.create({ reals: 1, log });
  const dir = mkdtempSync(join(tmpdir(), `${lab.prefix}health-`));
  let target: HealthTarget | undefined;
  try {
    await threadNapi(lab);
    target = await HealthTarget.start(lab, lab.ns.reals[0]!, s.addresses, s.ports, join(dir, 'nginx'));
    const t = target;
    const variants: VariantFigures[] = [];
    const failed: HealthChecksResult['failed'] = [];
    for (const v of s.variants) {
      // An overloaded variant (its daemon too busy to answer) is a result, not the end of the
      // section: it is reported as such and the next variant runs.
      try {
        const f = await runVariant(lab, v, () => t.pids(), log);
        log.info({ kind: f.kind, checks: f.checks, checksPerSecond: Math.round(f.checksPerSecond), cpuPct: +f.cpuPct.toFixed(1), allUpMs: f.allUpMs }, 'health-checks variant measured');
        variants.push(f);
      } catch (err) {
        if (smoke) throw err;
        log.error({ err, kind: v.workload.kind }, 'health-checks variant failed; the next one runs');
        failed.push({ kind: v.workload.kind, checks: checkCount(v.workload), error: err instanceof Error ? err.message.slice(0, 300) : String(err) });
      }
    }
    const tcp = s.variants.find((v) => v.workload.kind === 'tcp')!.workload;
    const keepalived = await runKeepalived(lab, tcp, dir, s.keepalivedWindowMs);
    return { sizes: s, variants, failed, keepalived };
  } finally {
    try {
      await target?.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await lab.destroy();
    }
  }
}

const pct = (x: number): string => x.toFixed(1);

/** The in-run comparison of the two ways of running tcp checks, above the no-check baseline. */
function synVsConnect(r: HealthChecksResult): string[] {
  const base = r.variants.find((v) => v.kind === 'none');
  const syn = r.variants.find((v) => v.kind === 'tcp');
  const con = r.variants.find((v) => v.kind === 'tcp-connect');
  if (!base || !syn || !con) return [];
  const over = (v: VariantFigures): number => Math.max(0.1, v.cpuPct - base.cpuPct);
  return [
    `- tcp checks, SYN vs connect() in this run: xlvsd ${pct(syn.cpuPct)}% vs ${pct(con.cpuPct)}% of a core (${(con.cpuPct / Math.max(0.1, syn.cpuPct)).toFixed(1)}×); above the no-check baseline ${pct(over(syn))} vs ${pct(over(con))} (${(over(con) / over(syn)).toFixed(1)}×), at ${n(syn.checksPerSecond)} vs ${n(con.checksPerSecond)} checks/s.`,
  ];
}
const n = (x: number): string => Math.round(x).toLocaleString('en');

export function healthChecksSection(r: HealthChecksResult, seconds: number): Section {
  const v0 = r.sizes.variants.find((v) => v.workload.kind === 'tcp')!;
  const w0 = v0.workload;
  const base = r.variants.find((v) => v.kind === 'none');
  const checked = r.variants.filter((v) => v.kind !== 'none');
  const label = (v: VariantFigures): string => (v.kind === 'none' ? `no checks (${n(r.sizes.variants.find((p) => p.workload.kind === 'none')!.workload.services * w0.realsPerService)} reals)` : `${n(v.checks)} ${v.kind}`);
  const ka = r.keepalived;
  return {
    id: 'health-checks',
    title: 'Health checks at scale',
    command: 'node dist/bench/run.js --only health-checks',
    setup: [
      `- Workload (bench/health-checks/health-checks-config.ts): services × 8 reals, every real checked with \`check: { type, interval_ms: ${w0.intervalMs}, timeout_ms: ${w0.timeoutMs}, jitter: ${w0.jitter} }\` (rise 2, fall 3, initial down: the defaults). Check k goes to 10.77.0.(100 + k mod ${r.sizes.addresses}):(20000 + ⌊k / ${r.sizes.addresses}⌋): ${r.sizes.addresses} addresses × ${r.sizes.ports} ports, every check a distinct destination.`,
      '- xlvs: the real xlvsd (dist/src/cli/xlvsd.js) in a lab router namespace, started from the generated file, programs attached (native XDP on veth); default health limits (max_probes 4096, max_exec 16). A fresh daemon (own pin and state dirs) per variant.',
      `- Target: one lab real-server namespace with the ${r.sizes.addresses} addresses on its eth0 and one nginx (2 workers, access_log off, keepalive_timeout 0) listening on the ${r.sizes.ports} ports: http checks GET /health and get 200 "ok". exec checks run \`${EXEC_COMMAND}\` (exit 0).`,
      '- tcp: the default, `health.syn_checks: true`: every probe is one SYN that xlvs_private builds in a plain BPF_PROG_TEST_RUN (a frame from the loopback device, written straight into the raw-frame sender\'s slot) and the daemon sends with one sendmmsg on an AF_PACKET socket per burst (up to 256, a millisecond apart; no live frames), answered by the target\'s kernel with a SYN-ACK that xlvs_private records and answers with a RST (bpf/probe.h); nginx never sees a connection. tcp-connect: the same checks with `syn_checks: false`: a non-blocking connect() and a reset per probe, run in the same session as the in-run comparison.',
      `- Peer: keepalived (${ka.version}) with the tcp workload as ${w0.services} virtual_servers × ${w0.realsPerService} real_servers, TCP_CHECK connect_timeout ${w0.timeoutMs / 1000}, delay_loop ${w0.intervalMs / 1000}, run \`keepalived -n -l -D -C\` (checkers only) in the router namespace.`,
    ],
    tables: [
      {
        caption: `xlvsd at ${checked.map(label).join(', ')} checks, and without checks; steady window of ${(v0.windowMs / 1000).toFixed(0)} s after every check is up (CPU: % of one core)`,
        columns: ['checks', 'checks/s (expected)', 'probes ok / failed', 'timed out', 'skipped', 'xlvsd CPU % (slices min – max)', 'above no-check baseline', `CPU / ${CPU_TARGET_PCT}% target`, 'RSS MiB', 'start → API → all up (s)', 'target CPU %', 'target TCP opens/s', 'children CPU %', 'load avg'],
        rows: r.variants.map((v) => [
          label(v),
          `${n(v.checksPerSecond)} (${n(v.expectedPerSecond)})`,
          `${n(v.delta.probes_ok)} / ${n(v.delta.probes_failed)}`,
          n(v.delta.timed_out),
          n(v.delta.skipped),
          `${pct(v.cpuPct)} (${pct(Math.min(...v.slicePct))} – ${pct(Math.max(...v.slicePct))})`,
          base === undefined || v === base ? '' : pct(v.cpuPct - base.cpuPct),
          v.kind === 'none' ? '' : (v.cpuPct / CPU_TARGET_PCT).toFixed(2),
          (v.rssKiB / 1024).toFixed(0),
          `${(v.readyMs / 1000).toFixed(1)} → ${v.kind === 'none' ? '–' : v.allUpMs === null ? `not all up (${n(v.end.up)} of ${n(v.checks)} at the end)` : (v.allUpMs / 1000).toFixed(1)}`,
          pct(v.targetCpuPct),
          n(v.targetOpensPerSecond),
          v.kind === 'exec' ? pct(v.childrenCpuPct) : '',
          `${v.loadAvg[0].toFixed(1)} → ${v.loadAvg[1].toFixed(1)}`,
        ]),
      },
      {
        caption: 'keepalived TCP_CHECK, same reals (peer)',
        columns: ['checks', 'ran', 'CPU % of one core', 'why not'],
        rows: [[n(ka.checks), ka.ran ? 'yes' : 'no', ka.cpuPct === undefined ? '' : pct(ka.cpuPct), ka.reason]],
      },
    ],
    notes: [
      `- Method: xlvsd's own CPU is utime + stime of its process from /proc/PID/stat (every thread, libuv's pool included) over the window, read in ${v0.slices} slices for the spread; "children" is what its reaped exec programs used (cutime + cstime). Checks/s is the ListHealth total probes_started before and after the window, over the time between the two answers; probes ok/failed, timed_out and skipped are deltas of the same totals. Nothing talks to the daemon inside the window; the bracketing ListHealth calls (every check listed, up to ${n(Math.max(...r.variants.map((v) => v.listHealthMs)))} ms each) fall outside it.`,
      '- The veths between xlvsd and the targets run threaded NAPI (bench/health-checks/health-checks-napi.ts): otherwise a veth runs the receiving stack (nginx\'s side of every handshake) inside xlvsd\'s connect() and close(), which a router whose reals are other machines never pays. The machine-wide split below includes that kernel work.',
      ...synVsConnect(r),
      ...r.failed.map((f) => `- **${n(f.checks)} ${f.kind}: not measured**: ${f.error}`),
      '- "no checks" is the same daemon and services without any check: its CPU (the reaper every 5 s, neighbour upkeep, Node itself) is the baseline the checked variants are compared with.',
      `- ListHealth calls past the client's 10 s deadline while the checks came up: ${r.variants.map((v) => `${v.kind} ${v.lateListHealth}`).join(', ')}.`,
      '- Expected rate = checks / mean period: the scheduler shortens each period by jitter × U(0,1), never lengthens it (so a dead real is still seen within interval × fall + timeout), so the mean period is interval × (1 − jitter / 2).',
      `- "start → API → all up": spawn of xlvsd until its API answers, then until ListHealth shows every check up (rise 2 from initial down: two successful probes each, then the weights are applied to the data plane).`,
      `- Machine CPU over the windows (all CPUs, user / system / softirq / idle %): ${r.variants.map((v) => `${v.kind} ${pct(v.machine.userPct)} / ${pct(v.machine.systemPct)} / ${pct(v.machine.softirqPct)} / ${pct(v.machine.idlePct)}`).join('; ')}. The target's nginx and the kernel's TCP work for both ends share the same 2 CPUs.`,
      `- Load: the 1-minute load average at the start and end of each window is in the table. The machine has ${availableParallelism()} CPUs; anything above ~2 means other work (other sessions' tests, the target, the kernel) was queued beside the daemon, which lengthens probe latencies (timeouts) but not the daemon's own CPU time per probe.`,
      '- Event-loop delay is not reported: perf_hooks.monitorEventLoopDelay is in-process only and xlvsd does not expose it.',
      ka.ran
        ? `- keepalived's checker ran; its CPU is over ${((ka.windowMs ?? 0) / 1000).toFixed(0)} s (it cannot report checks done without IPVS counters, so no checks/s).`
        : `- keepalived could not be measured: ${ka.reason}. Its healthchecker programs IPVS and stops when IPVS's netlink family is missing; this kernel has no IPVS and no loadable modules, so there is no keepalived figure beside xlvs's.`,
    ],
    data: r,
    seconds,
  };
}

export const healthChecks: SectionRunner = timedSection('health-checks', 'Health checks at scale', ({ log, smoke }) => runHealthChecks(smoke ? SMOKE : FULL, log, smoke), healthChecksSection, (r, log) => {
  for (const v of r.variants) log.info({ kind: v.kind, checks: v.checks, checksPerSecond: Math.round(v.checksPerSecond), cpuPct: +v.cpuPct.toFixed(1), allUpMs: v.allUpMs }, 'health-checks');
  log.info({ keepalived: r.keepalived }, 'health-checks peer');
});

/** For the smoke test: the number of checks of each smoke variant. */
export const SMOKE_CHECKS = SMOKE.variants.map((v) => checkCount(v.workload));
