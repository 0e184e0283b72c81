// SPDX-License-Identifier: Apache-2.0
// The xlvsctl ha commands (ha, ha watch, ha failover, ha hold on|off), end to end: the xlvsctl
// binary against the real gRPC server over the daemon's Control, with a small in-test HaControl
// behind it (ha-api-fixture.ts).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HA_OFF, T0, TestHa, fixture, serveHa, type HaServers } from './ha-api-fixture.js';
import { start, until, xlvsctl } from './xlvsctl-run.js';

describe('ha: xlvsctl', () => {
  let servers: HaServers | undefined;
  let ha: TestHa;
  let on: HaServers['on'];
  let off: HaServers['off'];

  before(async () => {
    servers = await serveHa('xlvs-cli-ha-');
    ({ ha, on, off } = servers);
  });

  after(() => servers?.close());

  it('ha prints the table, and --json the status', async () => {
    ha.state = fixture();
    ha.state.sinceMs = Date.now() - 15_000;
    ha.state.peer.restartHoldUntilMs = 0;
    const table = await xlvsctl(['--socket', on.address, 'ha']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ROUTER {5}ROLE {4}PRIORITY {2}SINCE {4}REASON\nr1 \(this\) {2}master {2}200 {7}1[5-9]s ago {2}peer r2 dead\nr2 \(peer\) {2}backup {2}100 {7}- {8}alive\n/);
    assert.match(table.stdout, /\npublic {3}up {4}40 ms ago\nprivate {2}down {2}never\n/);
    assert.match(table.stdout, /\nhold: off; in sync: yes; peer restart hold: none\n/);
    const json = await xlvsctl(['--socket', on.address, 'ha', '--json']);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), ha.state);
  });

  it('ha watch prints the current role, then each change, until interrupted; --json a JSON object per line', async () => {
    for (const json of [false, true]) {
      ha.state = fixture();
      const w = start(['--socket', on.address, 'ha', 'watch', ...(json ? ['--json'] : [])]);
      await until('the first line', () => w.out().includes('\n') && ha.listeners.size === 1);
      ha.become('backup', 'failover asked over the API');
      await until('the second line', () => w.out().split('\n').length === 3);
      w.child.kill('SIGINT');
      const r = await w.done;
      assert.equal(r.code, 0, r.stderr);
      if (json) {
        assert.deepEqual(r.stdout.trim().split('\n').map((l) => JSON.parse(l) as unknown), [
          { node: 'r1', from: 'master', to: 'master', reason: 'peer r2 dead', atMs: T0 },
          { node: 'r1', from: 'master', to: 'backup', reason: 'failover asked over the API', atMs: T0 + 1000 },
        ]);
      } else {
        assert.equal(r.stdout, '2026-11-30T00:53:20.000Z r1 master (current): peer r2 dead\n2026-11-30T00:53:21.000Z r1 master->backup: failover asked over the API\n');
      }
      await until('the server unsubscribed', () => ha.listeners.size === 0);
    }
  });

  it('ha failover and ha hold on|off call through and say what became of the router', async () => {
    ha.state = fixture();
    let r = await xlvsctl(['--socket', on.address, 'ha', 'failover']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'failover: r1 is backup, r2 is backup\n');
    r = await xlvsctl(['--socket', on.address, 'ha', 'failover']);
    assert.deepEqual([r.code, r.stderr], [1, 'xlvsctl: failover: r1 is backup, not master\n']);
    ha.calls.hold = [];
    r = await xlvsctl(['--socket', on.address, 'ha', 'hold', 'on']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hold on: r1 is backup and stays backup until hold off\n');
    r = await xlvsctl(['--socket', on.address, 'ha', 'hold', 'off']);
    assert.equal(r.stdout, 'hold off: r1 is backup and takes part again\n');
    assert.deepEqual(ha.calls.hold, [true, false]);
  });

  it('exits 2 naming the bad argument, without contacting the daemon', async () => {
    ha.calls.hold = [];
    const cases: [string[], string][] = [
      [['ha', 'hold', 'maybe'], 'xlvsctl: ha hold: must be on or off (got "maybe")\n'],
      [['ha', 'hold'], 'xlvsctl: ha hold: needs on or off (got undefined)\n'],
      [['ha', 'hold', 'on', 'now'], 'xlvsctl: ha hold: unexpected argument (one of on, off) (got "now")\n'],
      [['ha', 'promote'], 'xlvsctl: ha subcommand: unknown (watch, failover, hold) (got "promote")\n'],
      [['ha', 'failover', '--json'], 'xlvsctl: --json: does not apply to "ha failover" (got true)\n'],
      [['ha', 'watch', 'x'], 'xlvsctl: ha watch: unexpected argument (got "x")\n'],
    ];
    for (const [args, stderr] of cases) {
      const r = await xlvsctl(['--socket', on.address, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, `${stderr}(see xlvsctl --help)\n`);
    }
    assert.deepEqual(ha.calls.hold, []);
  });

  it('exits 1 saying HA is not configured, for every ha command', async () => {
    for (const args of [['ha'], ['ha', '--json'], ['ha', 'watch'], ['ha', 'failover'], ['ha', 'hold', 'on']]) {
      const r = await xlvsctl(['--socket', off.address, ...args]);
      assert.deepEqual([r.code, r.stdout, r.stderr], [1, '', `xlvsctl: ${HA_OFF}\n`], args.join(' '));
    }
  });

  it('lists the ha commands in its help', async () => {
    const r = await xlvsctl(['--help']);
    for (const line of ['  ha [--json]', '  ha watch [--json]', '  ha failover', '  ha hold on|off']) assert.ok(r.stdout.includes(`\n${line}`), line);
  });
});
