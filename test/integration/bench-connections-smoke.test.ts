// SPDX-License-Identifier: Apache-2.0
// Smoke run of the connections benchmark (bench/connections/connections.ts): the same code, lab and peers as
// `make bench`, one short round, so that the benchmark does not rot. The figures are checked for
// consistency with each other and with xlvs's own counters, never against fixed values.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { connections, runConnections, type ConnectionsResult } from '../../bench/connections/connections.js';
import { PEERS } from '../../bench/connections/connections-env.js';
import type { PeerSummary } from '../../bench/connections/connections-report.js';
import { renderMarkdown, machineInfo } from '../../bench/common/report.js';
import { InvalidArgumentError } from '../../src/errors.js';

const log = pino({ level: 'warn' }, pino.destination(2));

test('connections bench smoke: every peer completes connections without errors; figures agree with each other and the report shows them', async () => {
  const s = await connections.run({ log, smoke: true });
  const r = s.data as ConnectionsResult & { summary: PeerSummary[] };
  assert.equal(s.id, 'connections');
  assert.deepEqual([...new Set(r.runs.map((x) => x.peer))].sort(), [...PEERS].sort());
  for (const run of r.runs) {
    const w = run.wrk;
    assert.equal(run.rejected, undefined, `${run.peer}: ${run.rejected}`);
    assert.ok(w.requests > 0 && w.requestsPerSec > 0, `${run.peer}: ${w.requests} requests, ${w.requestsPerSec}/s`);
    // wrk's rate is its request count over its own elapsed time.
    assert.ok(Math.abs(w.requests / w.seconds - w.requestsPerSec) <= 0.02 * w.requestsPerSec + 1, `${run.peer}: ${w.requests} in ${w.seconds} s vs ${w.requestsPerSec}/s`);
    const l = w.latencyUs;
    assert.ok(l.p50 > 0 && l.p50 <= l.p75 && l.p75 <= l.p90 && l.p90 <= l.p99, `${run.peer}: percentiles ${JSON.stringify(l)}`);
    const c = run.cpu;
    assert.ok(Math.abs(c.userPct + c.systemPct + c.softirqPct + c.idlePct + c.otherPct - 100) < 0.01, `${run.peer}: CPU split ${JSON.stringify(c)}`);
  }
  // Ratios: each peer to itself is 1, and the ratios are consistent with the conn/s figures.
  const sum = (p: string): PeerSummary => r.summary.find((y) => y.peer === p)!;
  assert.equal(sum('xlvs').vsXlvs!.median, 1);
  assert.equal(sum('direct').vsDirect!.median, 1);
  for (const p of PEERS) {
    const want = sum(p).connPerSec.median / sum('xlvs').connPerSec.median;
    assert.ok(Math.abs(sum(p).vsXlvs!.median - want) < 1e-9, `${p}: ratio ${sum(p).vsXlvs!.median} vs ${want}`);
  }
  // The profiled extra run: xlvs's programs saw every connection (at least SYN, request and
  // closing packets one way, replies the other; wrk counts only completed requests, more may have
  // started), perf sampled something, and shares are shares.
  const prof = r.profiled!;
  assert.ok(prof.connPerSec > 0 && prof.errors === 0, `profiled run: ${prof.connPerSec}/s, ${prof.errors} errors`);
  assert.ok(prof.xdp.public.runCnt >= 3 * prof.requests, `public runs ${prof.xdp.public.runCnt} for ${prof.requests} connections`);
  assert.ok(prof.xdp.private.runCnt >= 2 * prof.requests, `private runs ${prof.xdp.private.runCnt} for ${prof.requests} connections`);
  assert.ok(prof.xdp.public.runTimeNs > 0 && prof.xdp.private.runTimeNs > 0, 'run time was counted');
  assert.ok(prof.profile.samples > 0 && prof.profile.byComm.length > 0 && prof.profile.bySymbol.length > 0, JSON.stringify(prof.profile).slice(0, 300));
  for (const list of [prof.profile.byComm, prof.profile.bySymbol]) {
    assert.ok(list.every((x) => x.pct > 0 && x.name !== ''), JSON.stringify(list));
    assert.ok(list.reduce((a, x) => a + x.pct, 0) <= 100.1, JSON.stringify(list));
  }
  const md = renderMarkdown({ date: 'd', machine: machineInfo(), command: 'bench-connections-smoke', sections: [s] });
  for (const p of PEERS) assert.match(md, new RegExp(`^\\| ${p} \\| [0-9,]+ \\|`, 'm'));
  assert.match(md, /Command: `node dist\/bench\/run.js --only connections`/);
});

test('connections bench refuses bad options before building anything', async () => {
  const base = { rounds: 1, seconds: 1, threads: 1, connections: 1, tolerance: 0, profile: false, log };
  await assert.rejects(runConnections({ ...base, rounds: 0 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'rounds');
  await assert.rejects(runConnections({ ...base, connections: 0 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'connections');
  await assert.rejects(runConnections({ ...base, tolerance: 0.5 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'tolerance');
});
