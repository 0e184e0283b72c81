// SPDX-License-Identifier: Apache-2.0
// Smoke run of the ha-failover benchmark (bench/ha-failover/ha-failover.ts) at one interval: in
// the HA lab, keepalived VRRPv3 + nftables DNAT on both routers, then xlvsd with ha: on both, r1
// master; the master killed hard (links down, then SIGKILL) with 30 echoing connections and the
// 1 ms UDP stream running: r2 takes over, each gap is measured and bounded by its dead time, every
// connection is accounted for (xlvs loses none), and the report has both columns.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { haFailover, type HaFailoverResult, SMOKE_SIZES } from '../../bench/ha-failover/ha-failover.js';
import { keepalivedConfig } from '../../bench/ha-failover/ha-failover-keepalived.js';
import { haNftRuleset } from '../../bench/ha-failover/ha-failover-nft.js';
import { renderMarkdown, machineInfo } from '../../bench/common/report.js';
import { BenchError } from '../../bench/common/errors.js';

const log = pino({ level: 'warn' }, pino.destination(2));

test('keepalived config: VRRPv3, two instances in one sync group, the interval as advert_int, r1 150 MASTER / r2 100 BACKUP, preempt on', () => {
  const c = keepalivedConfig({ router: 'r1', intervalMs: 20, vip: '203.0.113.100', gateway: '10.77.0.1' });
  assert.match(c, /vrrp_version 3/);
  assert.match(c, /vrrp_sync_group XLVS_BENCH \{\n {2}group \{\n {4}VI_PUBLIC\n {4}VI_PRIVATE/);
  assert.equal(c.match(/advert_int 0\.02\n/g)?.length, 2);
  assert.equal(c.match(/priority 150\n/g)?.length, 2);
  assert.match(c, /interface pub0[\s\S]*203\.0\.113\.100\/32 dev pub0/);
  assert.match(c, /interface priv0[\s\S]*10\.77\.0\.1\/32 dev priv0/);
  assert.doesNotMatch(c, /nopreempt/);
  const c2 = keepalivedConfig({ router: 'r2', intervalMs: 1000, vip: '203.0.113.100', gateway: '10.77.0.1' });
  assert.match(c2, /state BACKUP/);
  assert.match(c2, /priority 100/);
  assert.match(c2, /advert_int 1\n/);
  assert.throws(() => keepalivedConfig({ router: 'r1', intervalMs: 15, vip: 'v', gateway: 'g' }), BenchError);
  const nft = haNftRuleset({ vip: '203.0.113.100', tcpPort: 9000, udpPort: 5353, reals: ['10.77.0.11', '10.77.0.12', '10.77.0.13'] });
  assert.match(nft, /tcp dport 9000 dnat to numgen inc mod 3 map \{ 0 : 10\.77\.0\.11, 1 : 10\.77\.0\.12, 2 : 10\.77\.0\.13 \}/);
  assert.match(nft, /udp dport 5353 dnat to numgen inc mod 3/);
});

test('ha-failover bench smoke: keepalived and xlvs at 100 ms, the master killed hard; gap and losses measured for both', async (t) => {
  const s = await haFailover.run({ log, smoke: true });
  const r = s.data as HaFailoverResult;
  assert.equal(s.id, 'ha-failover');
  assert.deepEqual(r.sizes, SMOKE_SIZES);
  const k = r.keepalived[0]!;
  assert.ok(k.ran, `keepalived round failed: ${JSON.stringify(k)}`);
  t.diagnostic(`keepalived at 100 ms: gap ${k.gapMs} ms, lost ${k.lost}/${k.connections} (${k.reset} reset, ${k.stalled} stalled)`);
  assert.equal(k.warmAlive, 30, 'every connection alive before the kill');
  // VRRP's dead time is 3 adverts plus the skew ((256 - 100) / 256 of one): 360 ms at 100 ms;
  // the gap is at least most of it and, with the takeover and the GARP, not several times it.
  assert.ok(k.gapMs >= 250 && k.gapMs < 2000, `gap ${k.gapMs} ms`);
  assert.ok(k.gapFromKillMs >= -50 && k.gapFromKillMs < 50, `the gap began at the kill (${k.gapFromKillMs} ms)`);
  assert.equal(k.lost, k.reset + k.stalled + k.closed);
  assert.ok(k.lost <= k.connections);
  assert.equal(k.report.alive + k.report.reset + k.report.closed + k.report.errored, 30, 'every connection accounted for');
  assert.equal(k.report.corrupt, 0, 'no echo came back wrong');
  assert.ok(Object.values(k.udpReals).reduce((a, b) => a + b, 0) > 0, 'the probes were answered after the takeover');
  const x = r.xlvs[0]!;
  assert.ok(x.ran, `xlvs round failed: ${JSON.stringify(x)}`);
  t.diagnostic(`xlvs at 100 ms: gap ${x.gapMs} ms, lost ${x.lost}/${x.connections}`);
  assert.equal(x.warmAlive, 30, 'every connection alive before the kill');
  // xlvs's dead time is 3 intervals (300 ms) after the last heartbeat: the gap is most of it at
  // least (the kill falls within an interval of the last beat) and not several times it.
  assert.ok(x.gapMs >= 150 && x.gapMs < 1000, `gap ${x.gapMs} ms`);
  assert.equal(x.lost, 0, `xlvs lost connections: ${JSON.stringify(x.report)}`);
  const md = renderMarkdown({ date: 'd', machine: machineInfo(), command: 'smoke', sections: [s] });
  assert.match(md, /\| interval \| keepalived gap \(ms\) \| keepalived lost \| xlvs gap \(ms\) \| xlvs lost \|/);
  assert.match(md, new RegExp(`\\| 100 ms \\| ${k.gapMs} \\| ${k.lost} / 30 .*\\| ${x.gapMs} \\| 0 / 30 `));
});
