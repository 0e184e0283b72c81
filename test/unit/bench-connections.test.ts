// SPDX-License-Identifier: Apache-2.0
// The connections benchmark's pure parts: wrk's output parser (fed outputs captured from real
// runs on this machine), the acceptance rule, perf report parsing (/proc/stat: bench-cpu.test.ts), the round
// order, the per-round ratios, and the peers' generated configs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWrk, wrkArgv, rejectReason, errorCount } from '../../bench/connections/connections-wrk.js';
import { parsePerfReport } from '../../bench/common/profile.js';
import { roundOrder, checkValid, type ConnectionsResult, type PeerRun } from '../../bench/connections/connections.js';
import { summarise, lossNotes } from '../../bench/connections/connections-report.js';
import { PEERS, type PeerName } from '../../bench/connections/connections-env.js';
import { haproxyConfig } from '../../bench/peers/haproxy.js';
import { nftRuleset } from '../../bench/peers/nftables.js';
import { xlvsConfig } from '../../bench/peers/xlvs.js';
import { parseConfig } from '../../src/config/load.js';
import { InvalidArgumentError, XlvsError } from '../../src/errors.js';

// Captured: `wrk -t 2 -c 64 -d 8s --timeout 2s --latency -H 'Connection: close'` through xlvs in the lab.
const XLVS_RUN = `Running 8s test @ http://203.0.113.100:80/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.22ms   11.35ms 129.29ms   86.88%
    Req/Sec     2.76k     1.31k    6.30k    67.33%
  Latency Distribution
     50%    3.31ms
     75%   10.23ms
     90%   22.91ms
     99%   52.64ms
  42960 requests in 8.02s, 5.94MB read
Requests/sec:   5354.77
Transfer/sec:    758.24KB
`;

// Captured: the same against nginx answering 503 (a netns, loopback, 1 s): every reply non-2xx, microsecond percentiles.
const NON_2XX = `Running 1s test @ http://127.0.0.1:8080/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.90ms    2.50ms  28.18ms   97.16%
    Req/Sec     4.98k     1.07k    6.98k    72.73%
  Latency Distribution
     50%  348.00us
     75%  584.00us
     90%    1.54ms
     99%   16.06ms
  5459 requests in 1.10s, 0.91MB read
  Non-2xx or 3xx responses: 5459
Requests/sec:   4952.44
Transfer/sec:    841.53KB
`;

// Captured: nginx killed one second into a 2 s run: socket errors.
const SOCKET_ERRORS = `Running 2s test @ http://127.0.0.1:8080/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   564.31us    1.27ms  26.93ms   91.44%
    Req/Sec     5.86k     0.97k    7.70k    70.00%
  Latency Distribution
     50%  244.00us
     75%  311.00us
     90%    1.37ms
     99%    5.07ms
  5907 requests in 2.01s, 836.44KB read
  Socket errors: connect 0, read 4, write 899, timeout 0
Requests/sec:   2932.07
Transfer/sec:    415.19KB
`;

// Captured: nothing listening; wrk stops at once.
const REFUSED = 'unable to connect to 127.0.0.1:8081 Connection refused\n';

test('parseWrk reads rate, elapsed time and percentiles of a clean run (ms units)', () => {
  const r = parseWrk(XLVS_RUN);
  assert.equal(r.requests, 42960);
  assert.equal(r.seconds, 8.02);
  assert.equal(r.requestsPerSec, 5354.77);
  assert.deepEqual(r.latencyUs, { p50: 3310, p75: 10230, p90: 22910, p99: 52640 });
  assert.deepEqual(r.errors, { connect: 0, read: 0, write: 0, timeout: 0, non2xx: 0 });
  assert.equal(rejectReason(r, 1e-4), undefined);
});

test('parseWrk reads microsecond percentiles and counts non-2xx replies as errors', () => {
  const r = parseWrk(NON_2XX);
  assert.deepEqual(r.latencyUs, { p50: 348, p75: 584, p90: 1540, p99: 16060 });
  assert.equal(r.errors.non2xx, 5459);
  assert.equal(errorCount(r), 5459);
  assert.match(rejectReason(r, 1e-4)!, /5459 errors in 5459 requests/);
});

test('parseWrk reads socket errors; the tolerance decides whether the run counts', () => {
  const r = parseWrk(SOCKET_ERRORS);
  assert.deepEqual(r.errors, { connect: 0, read: 4, write: 899, timeout: 0, non2xx: 0 });
  assert.equal(errorCount(r), 903);
  assert.match(rejectReason(r, 1e-4)!, /903 errors in 5907 requests/);
  assert.equal(rejectReason(r, 0.2), undefined); // 903 <= 0.2 * 5907
  assert.equal(rejectReason({ ...r, requests: 0 }, 0.2), 'no request completed');
});

test('parseWrk refuses output without a report, naming what is missing', () => {
  assert.throws(() => parseWrk(REFUSED), (e: unknown) => e instanceof XlvsError && e.code === 'E_BENCH' && /"N requests in T"/.test(e.message));
  // Without --latency there is no distribution: say so rather than report zeros.
  const noLatency = XLVS_RUN.replace(/ {2}Latency Distribution\n( +\d+% +\S+\n){4}/, '');
  assert.throws(() => parseWrk(noLatency), /latency 50% line \(run wrk with --latency\)/);
});

test('wrkArgv builds a short-connection run and refuses bad values by field', () => {
  assert.deepEqual(wrkArgv({ url: 'http://203.0.113.100:80/', threads: 2, connections: 64, seconds: 8, timeoutSeconds: 2 }),
    ['wrk', '-t', '2', '-c', '64', '-d', '8s', '--timeout', '2s', '--latency', '-H', 'Connection: close', 'http://203.0.113.100:80/']);
  const ok = { url: 'http://10.77.0.11:80/', threads: 2, connections: 64, seconds: 8, timeoutSeconds: 2 };
  for (const [field, bad] of [['threads', 0], ['connections', 1], ['seconds', 1.5], ['timeoutSeconds', 0]] as const) {
    assert.throws(() => wrkArgv({ ...ok, [field]: bad }), (e: unknown) => e instanceof InvalidArgumentError && e.field === field);
  }
  assert.throws(() => wrkArgv({ ...ok, url: 'http://example.com/; rm -rf /' }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'url');
});

test('parsePerfReport keeps the top shares, biggest first', () => {
  const out = '    54.80%  node           \n     0.61%  ksoftirqd/1    \n    24.10%  wrk            \n';
  assert.deepEqual(parsePerfReport(out), [{ name: 'node', pct: 54.8 }, { name: 'wrk', pct: 24.1 }, { name: 'ksoftirqd/1', pct: 0.61 }]);
  assert.deepEqual(parsePerfReport('     4.10%  [k] pvclock_clocksource_read_nowd\n     3.90%  [k] _raw_spin_unlock_irqrestore\n', 1), [{ name: '[k] pvclock_clocksource_read_nowd', pct: 4.1 }]);
});

test('roundOrder rotates the peers: each is first once every len(PEERS) rounds, and every round has all of them', () => {
  const firsts = PEERS.map((_, r) => roundOrder(r)[0]);
  assert.deepEqual([...firsts].sort(), [...PEERS].sort());
  for (let r = 0; r < 8; r++) assert.deepEqual([...roundOrder(r)].sort(), [...PEERS].sort());
});

function fakeRun(peer: PeerName, round: number, rps: number, p99: number, rejected?: string): PeerRun {
  return {
    peer, round, slot: 0, command: 'wrk', raw: '',
    wrk: { requests: rps * 8, seconds: 8, requestsPerSec: rps, latencyUs: { p50: 1000, p75: 2000, p90: 3000, p99 }, errors: { connect: 0, read: 0, write: 0, timeout: 0, non2xx: 0 } },
    cpu: { userPct: 40, systemPct: 30, softirqPct: 30, idlePct: 0, otherPct: 0 },
    ...(rejected ? { rejected } : {}),
  };
}

test('summarise takes ratios within each round and medians over the valid rounds only', () => {
  const base = { rounds: 3, seconds: 8, threads: 2, connections: 64, tolerance: 1e-4, profile: false };
  const rate: Record<PeerName, number[]> = { xlvs: [1000, 2000, 4000], nftables: [500, 3000, 2000], haproxy: [800, 1000, 2000], direct: [1000, 1000, 1000] };
  const runs = PEERS.flatMap((p) => rate[p].map((v, r) => fakeRun(p, r, v, p === 'direct' ? 10_000 : 20_000, p === 'haproxy' && r === 2 ? 'bad' : undefined)));
  const r: ConnectionsResult = { config: base, reals: 4, runs };
  const s = summarise(r, 2);
  const nft = s.find((x) => x.peer === 'nftables')!;
  // Per-round ratios 0.5, 1.5, 0.5: median 0.5, although the median rates give 2000/2000 = 1.
  assert.deepEqual(nft.vsXlvs, { median: 0.5, min: 0.5, max: 1.5 });
  const ha = s.find((x) => x.peer === 'haproxy')!;
  assert.equal(ha.valid, 2);
  assert.deepEqual(ha.connPerSec, { median: 900, min: 800, max: 1000 });
  assert.equal(s.find((x) => x.peer === 'xlvs')!.vsXlvs!.median, 1);
  // 2 CPUs fully busy at 2000 conn/s: 1000 µs of CPU per connection.
  assert.equal(s.find((x) => x.peer === 'xlvs')!.cpuUsPerConn, 1000);
  const notes = lossNotes(s, undefined).join('\n');
  assert.match(notes, /loses to \*\*direct\*\* on p99 10\.00 vs 20\.00 ms/);
  assert.doesNotMatch(notes, /loses to \*\*haproxy\*\*/);
  checkValid(r);
  const worse: ConnectionsResult = { ...r, runs: r.runs.map((x) => (x.peer === 'direct' && x.round > 0 ? { ...x, rejected: 'errors' } : x)) };
  assert.throws(() => checkValid(worse), /direct has 1 valid run\(s\) of 3/);
});

test('the peers\' generated configs: xlvs\'s passes xlvsd\'s own validation, the others carry every real', () => {
  const spec = { vip: '203.0.113.100', port: 80, reals: ['10.77.0.11', '10.77.0.12', '10.77.0.13', '10.77.0.14'], realPort: 80 };
  const cfg = parseConfig(xlvsConfig(spec), 'bench.yaml');
  assert.equal(cfg.desired.services.length, 1);
  const svc = cfg.desired.services[0]!;
  assert.equal(svc.scheduler, 'wlc');
  assert.deepEqual(svc.reals.map((x) => x.address), spec.reals);
  const nft = nftRuleset({ ...spec, proto: 'tcp' });
  assert.match(nft, /ip daddr 203\.0\.113\.100 tcp dport 80 dnat to numgen inc mod 4 map \{ 0 : 10\.77\.0\.11, 1 : 10\.77\.0\.12, 2 : 10\.77\.0\.13, 3 : 10\.77\.0\.14 \} : 80/);
  const ha = haproxyConfig({ ...spec, threads: 2, maxconn: 8000, balance: 'roundrobin' });
  assert.match(ha, /^\s+mode tcp$/m);
  assert.match(ha, /^\s+bind 203\.0\.113\.100:80$/m);
  assert.equal(ha.match(/^\s+server rs\d 10\.77\.0\.1\d:80$/gm)?.length, 4);
});
