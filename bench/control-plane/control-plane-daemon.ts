// SPDX-License-Identifier: Apache-2.0
// The real xlvsd at scale, in a lab router namespace: start with N services × R reals from a
// file until the API answers and lists them all; reload after one real's weight changed
// (SIGHUP), checking in the pinned maps that only that real and its service's table changed;
// the same change over the API (the one-element path); RSS and kernel map memory; restart on
// the pinned state until ready. Times come from the daemon's own log timestamps where the
// daemon decides when it is done (reload), from our clock where the API answering is the end.

import type pino from 'pino';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { configYaml, services, type WorkloadSpec } from './control-plane-config.js';
import { diffMaps, kernelMemory, procMemory, snapshotMaps, type KernelMemory, type ProcMemory, type SnapshotDiff } from './control-plane-maps.js';
import { BenchError } from '../common/errors.js';

const RELOAD_TIMEOUT_MS = 180_000;
/** Parsing, verifying and applying 10,000 services takes longer than the lab's default 20 s. */
const READY_TIMEOUT_MS = 150_000;
const POLL_MS = 20;

export interface DaemonFigures {
  services: number;
  reals: number;
  yamlBytes: number;
  /** spawn -> API answers (ms), and the daemon's phases from its log (ms after spawn). */
  startMs: number;
  startPhases: Record<string, number>;
  startWrites: Record<string, number>;
  /** listServices over gRPC with every service and real (ms). */
  listMs: number[];
  reloadMs: number[];
  reloadWrites: Array<Record<string, number>>;
  reloadDiffs: SnapshotDiff[];
  apiSetWeightMs: number[];
  apiWrites: Array<Record<string, number>>;
  restartMs: number[];
  restartWrites: Array<Record<string, number>>;
  /** the restart kept every real in its slot (maps equal before and after). */
  restartKeptSlots: boolean[];
  memAfterStart: ProcMemory;
  memAfterRestart: ProcMemory;
  kernel: KernelMemory;
}

interface LogLine {
  time: number;
  msg: string;
  [k: string]: unknown;
}

function logLines(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const l of text.split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      out.push(JSON.parse(l) as LogLine);
    } catch {
      continue; // a line cut by the pipe's chunking mid-read: the next read completes it
    }
  }
  return out;
}

async function waitFor(x: XlvsdProcess, mark: number, done: RegExp, failed: RegExp): Promise<LogLine[]> {
  const deadline = Date.now() + RELOAD_TIMEOUT_MS;
  for (;;) {
    const tail = x.output.slice(mark);
    if (failed.test(tail)) throw new BenchError(`xlvsd refused the change: ${tail.slice(-2000)}`);
    const lines = logLines(tail);
    if (lines.some((l) => done.test(l.msg))) return lines;
    if (Date.now() > deadline) throw new BenchError(`xlvsd did not log ${done} within ${RELOAD_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

const writesOf = (lines: LogLine[]): Record<string, number> =>
  (lines.find((l) => l.msg === 'data plane reconciled')?.writes as Record<string, number> | undefined) ?? {};

async function listAll(x: XlvsdProcess, spec: WorkloadSpec): Promise<number> {
  const t = performance.now();
  const list = await x.api.listServices();
  const ms = performance.now() - t;
  const reals = list.reduce((s, v) => s + v.reals.length, 0);
  if (list.length !== spec.services || reals !== spec.services * spec.realsPerService) {
    throw new BenchError(`xlvsd lists ${list.length} services / ${reals} reals, expected ${spec.services} / ${spec.services * spec.realsPerService}`);
  }
  return ms;
}

export interface DaemonRunOptions {
  spec: WorkloadSpec;
  reloads: number;
  restarts: number;
  log: pino.Logger;
}

export async function runDaemon(o: DaemonRunOptions): Promise<DaemonFigures> {
  const { spec } = o;
  const lab = await Lab.create({ reals: 1, log: o.log });
  let x: XlvsdProcess | undefined;
  try {
    const text = configYaml(spec, lab.ifaces);
    const t0 = Date.now();
    x = await XlvsdProcess.start(lab, { config: text, readyTimeoutMs: READY_TIMEOUT_MS });
    const startMs = Date.now() - t0;
    const startPhases: Record<string, number> = {};
    for (const l of logLines(x.output)) {
      if (['data plane loaded', 'data plane reconciled', 'xlvsd ready'].includes(l.msg)) startPhases[l.msg] = l.time - t0;
    }
    const startWrites = writesOf(logLines(x.output));
    const listMs = [await listAll(x, spec)];
    const pid = x.pid;
    const memAfterStart = procMemory(pid);

    // The changed real: in a wlc service (the common case) in the middle of the file.
    const target = Math.floor(spec.services / 2) - (Math.floor(spec.services / 2) % 100) + 50;
    if (target >= spec.services) throw new BenchError(`too few services (${spec.services}) for the reload case`);
    const svc = services(spec)[target]!;
    const reloadMs: number[] = [], reloadWrites: Array<Record<string, number>> = [], reloadDiffs: SnapshotDiff[] = [];
    for (let i = 0; i < o.reloads; i++) {
      const before = snapshotMaps(x.pinDir);
      x.writeConfig(configYaml({ ...spec, change: { service: target, real: 3, weight: 10 + i } }, lab.ifaces));
      const mark = x.output.length;
      const t = Date.now();
      x.reload();
      const lines = await waitFor(x, mark, /^config reloaded$/, /config rejected/);
      reloadMs.push(lines.find((l) => l.msg === 'config reloaded')!.time - t);
      reloadWrites.push(writesOf(lines));
      reloadDiffs.push(diffMaps(before, snapshotMaps(x.pinDir)));
    }
    // The same kind of change through the API: one real's weight (an override on top of the file).
    const apiSetWeightMs: number[] = [], apiWrites: Array<Record<string, number>> = [];
    const real = svc.reals[5]!;
    for (let i = 0; i < o.reloads; i++) {
      const mark = x.output.length;
      const t = performance.now();
      await x.api.addReal({ vip: svc.vip, port: svc.port, protocol: 'tcp' }, {
        address: real.address, port: svc.port, weight: 20 + i, method: 'nat', upper_threshold: 0, lower_threshold: 0,
      });
      apiSetWeightMs.push(performance.now() - t);
      apiWrites.push(writesOf(await waitFor(x, mark, /^real set over the API$/, /E_[A-Z]/)));
    }
    listMs.push(await listAll(x, spec));

    const tableIds = snapshotMaps(x.pinDir).tables.values();
    const kernel = kernelMemory(x.pinDir, tableIds);

    const restartMs: number[] = [], restartWrites: Array<Record<string, number>> = [], restartKeptSlots: boolean[] = [];
    let memAfterRestart = memAfterStart;
    for (let i = 0; i < o.restarts; i++) {
      const before = snapshotMaps(x.pinDir);
      await x.stop();
      const mark = x.output.length;
      const t = Date.now();
      await x.launch();
      restartMs.push(Date.now() - t);
      restartWrites.push(writesOf(logLines(x.output.slice(mark))));
      const d = diffMaps(before, snapshotMaps(x.pinDir));
      restartKeptSlots.push(d.realsChanged.length === 0 && d.svcsChanged.length === 0);
      listMs.push(await listAll(x, spec));
      memAfterRestart = procMemory(x.pid);
    }
    return {
      services: spec.services, reals: spec.services * spec.realsPerService, yamlBytes: Buffer.byteLength(text),
      startMs, startPhases, startWrites, listMs, reloadMs, reloadWrites, reloadDiffs, apiSetWeightMs, apiWrites,
      restartMs, restartWrites, restartKeptSlots, memAfterStart, memAfterRestart, kernel,
    };
  } finally {
    try {
      await x?.destroy();
    } finally {
      await lab.destroy();
    }
  }
}
