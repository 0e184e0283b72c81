// SPDX-License-Identifier: Apache-2.0
// One variant of the health-checks benchmark: the real xlvsd in the lab's router namespace with
// N checked reals, started from a file; the time until every check is up (ListHealth); then,
// after a settling pause, a steady window in which nothing talks to the daemon and its own CPU
// (/proc/PID/stat) is read in slices, bracketed by two ListHealth calls whose totals give the
// probes started, ok, failed, timed out and skipped in between.

import { readFileSync } from 'node:fs';
import type pino from 'pino';
import type { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import * as grpc from '@grpc/grpc-js';
import { ApiCallError } from '../../src/api/client.js';
import type { HealthTotals } from '../../src/health/report.js';
import { checkCount, healthConfigYaml, type CheckKind, type HealthWorkload } from './health-checks-config.js';
import { pctOfOneCore, readPidCpu, type ProcCpu } from './health-checks-proc.js';
import { procMemory } from '../control-plane/control-plane-maps.js';
import { cpuSplit, readCpuTimes, type CpuSplit } from '../common/cpu.js';
import { BenchError } from '../common/errors.js';

const READY_TIMEOUT_MS = 60_000;
const UP_POLL_MS = 250;

export interface VariantPlan {
  workload: HealthWorkload;
  /** After every check is up, before the window: the re-apply of 10,000 weights settles. */
  settleMs: number;
  windowMs: number;
  /** CPU is also read in this many equal slices of the window (spread). */
  slices: number;
  /** Every check must be up within this long after the API answers. */
  upTimeoutMs: number;
}

export interface VariantFigures {
  kind: CheckKind;
  checks: number;
  /** checks / mean period: the scheduler shortens each period by jitter × U(0,1). */
  expectedPerSecond: number;
  /** spawn → API answers; spawn → every check up (ms). */
  readyMs: number;
  /** null: not every check came up within upTimeoutMs (the window is measured anyway). */
  allUpMs: number | null;
  /** 1-minute load average at the window's start and end. */
  loadAvg: [number, number];
  windowMs: number;
  /** Deltas of ListHealth totals over the window. */
  delta: Pick<HealthTotals, 'probes_started' | 'probes_ok' | 'probes_failed' | 'timed_out' | 'skipped' | 'transitions'>;
  end: HealthTotals;
  checksPerSecond: number;
  /** xlvsd's own CPU over the window (% of one core); per slice; its reaped children's. */
  cpuPct: number;
  slicePct: number[];
  childrenCpuPct: number;
  rssKiB: number;
  hwmKiB: number;
  /** The target (nginx master + workers) over the same window, % of one core. */
  targetCpuPct: number;
  /** Connections the target's kernel established (TcpPassiveOpens), per second of the window. */
  targetOpensPerSecond: number;
  /** All CPUs of the machine over the window, by kind. */
  machine: CpuSplit;
  /** ListHealth calls that ran past the client's deadline while the checks came up. */
  lateListHealth: number;
  /** One ListHealth of every check, as the window's bracket (ms). */
  listHealthMs: number;
}

async function timedTotals(x: XlvsdProcess): Promise<{ totals: HealthTotals; at: number; ms: number }> {
  const t = performance.now();
  const r = await x.api.listHealth();
  const at = performance.now();
  return { totals: r.totals, at, ms: at - t };
}

/** Polls until every check is up; false (with the count) if that does not happen within timeoutMs. */
async function waitAllUp(x: XlvsdProcess, checks: number, timeoutMs: number, log: pino.Logger, late: { count: number }): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let r;
    try {
      r = await x.api.listHealth();
    } catch (e) {
      // A daemon busy bringing 10,000 checks up may answer after the client's deadline: counted
      // (it is a figure: the API was that slow), retried until our own deadline.
      if (!(e instanceof ApiCallError && e.grpcCode === grpc.status.DEADLINE_EXCEEDED) || Date.now() > deadline) throw e;
      late.count++;
      log.warn({ late: late.count }, 'health-checks: ListHealth past its deadline while checks come up; retrying');
      continue;
    }
    if (r.totals.targets === checks && r.totals.up === checks) return true;
    if (Date.now() > deadline) {
      const down = r.checks.filter((c) => c.status !== 'up').slice(0, 3).map((c) => `${c.real}: ${c.last?.reason ?? 'no probe yet'}`);
      log.warn({ up: r.totals.up, checks, targets: r.totals.targets, timeoutMs, down }, 'health-checks: not every check came up; measuring anyway');
      return false;
    }
    await new Promise((res) => setTimeout(res, UP_POLL_MS));
  }
}

/** The 1-minute load average: other work on the machine competes with the daemon for its CPUs. */
const loadAvg = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

const ticksOf = (pids: number[]): number => pids.reduce((s, p) => s + readPidCpu(p).self, 0);

/** TCP passive opens (connections established) in the network namespace of process pid. */
function passiveOpens(pid: number): number {
  const lines = readFileSync(`/proc/${pid}/net/snmp`, 'utf8').split('\n').filter((l) => l.startsWith('Tcp:'));
  const names = lines[0]?.split(/\s+/) ?? [];
  const at = names.indexOf('PassiveOpens');
  if (at < 0 || lines.length < 2) throw new BenchError(`/proc/${pid}/net/snmp has no Tcp PassiveOpens`);
  return Number(lines[1]!.split(/\s+/)[at]);
}

export async function runVariant(lab: Lab, plan: VariantPlan, targetPids: () => number[], log: pino.Logger): Promise<VariantFigures> {
  const w = plan.workload;
  const checks = checkCount(w);
  const t0 = Date.now();
  const x = await XlvsdProcess.start(lab, { config: healthConfigYaml(w, lab.ifaces), readyTimeoutMs: READY_TIMEOUT_MS });
  try {
    const readyMs = Date.now() - t0;
    const late = { count: 0 };
    const allUpMs = (await waitAllUp(x, checks, plan.upTimeoutMs, log, late)) ? Date.now() - t0 : null;
    log.info({ kind: w.kind, checks, readyMs, allUpMs }, 'health-checks: checks started');
    await new Promise((res) => setTimeout(res, plan.settleMs));

    const pid = x.pid;
    const a = await timedTotals(x);
    const tPids = targetPids();
    const load0 = loadAvg();
    const m0 = readCpuTimes(), tg0 = ticksOf(tPids), po0 = passiveOpens(tPids[0]!);
    const c0: ProcCpu = readPidCpu(pid);
    const w0 = performance.now();
    const marks: ProcCpu[] = [c0];
    const times: number[] = [w0];
    for (let i = 1; i <= plan.slices; i++) {
      await new Promise((res) => setTimeout(res, w0 + (plan.windowMs * i) / plan.slices - performance.now()));
      marks.push(readPidCpu(pid));
      times.push(performance.now());
    }
    const tg1 = ticksOf(tPids), m1 = readCpuTimes(), po1 = passiveOpens(tPids[0]!);
    const load1 = loadAvg();
    const c1 = marks[marks.length - 1]!;
    const windowMs = times[times.length - 1]! - w0;
    const b = await timedTotals(x);
    const mem = procMemory(pid);

    const d = (k: keyof HealthTotals): number => b.totals[k] - a.totals[k];
    const slicePct = marks.slice(1).map((m, i) => pctOfOneCore(m.self - marks[i]!.self, times[i + 1]! - times[i]!));
    return {
      kind: w.kind,
      checks,
      expectedPerSecond: checks / ((w.intervalMs * (1 - w.jitter / 2)) / 1000),
      readyMs,
      allUpMs,
      loadAvg: [load0, load1],
      windowMs,
      delta: { probes_started: d('probes_started'), probes_ok: d('probes_ok'), probes_failed: d('probes_failed'), timed_out: d('timed_out'), skipped: d('skipped'), transitions: d('transitions') },
      end: b.totals,
      // Between the two snapshots (each taken inside its ListHealth call, answered at `at`).
      checksPerSecond: (d('probes_started') * 1000) / (b.at - a.at),
      cpuPct: pctOfOneCore(c1.self - c0.self, windowMs),
      slicePct,
      childrenCpuPct: pctOfOneCore(c1.children - c0.children, windowMs),
      rssKiB: mem.rssKiB,
      hwmKiB: mem.hwmKiB,
      targetCpuPct: pctOfOneCore(tg1 - tg0, windowMs),
      targetOpensPerSecond: ((po1 - po0) * 1000) / windowMs,
      machine: cpuSplit(m0, m1),
      lateListHealth: late.count,
      listHealthMs: Math.max(a.ms, b.ms),
    };
  } finally {
    await x.destroy();
  }
}
