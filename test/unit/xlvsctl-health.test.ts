// SPDX-License-Identifier: Apache-2.0
// xlvsctl's health views: the pure renderings (health table, watch lines, the list's Health and
// EffWeight columns), then the xlvsctl binary against the real gRPC server over a unix socket,
// backed by MemoryApi: `health`, `health --json`, `capabilities`, `health watch` until a signal, and a watch
// whose daemon goes away (closed cleanly, and killed with SIGKILL in its own process).

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { formatAgo, formatHealthEvent, formatHealthTable } from '../../src/api/health-table.js';
import { formatCapabilities } from '../../src/api/convert-capabilities.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { formatServiceTable, toJsonLine } from '../../src/api/table.js';
import type { HealthEvent } from '../../src/health/report.js';
import { MemoryApi, listed, service } from './memory-api.js';
import { ended, reap, start, until, xlvsctl, type Running } from './xlvsctl-run.js';

// MemoryApi's first check went up at 1_795_000_000_123; this is 12.377 s later.
const NOW = 1_795_000_012_500;

const HEALTH_TABLE =
  'SERVICE               REAL           TYPE  PROBE     CHECK            STATUS         SINCE        OK/FAIL  LAST\n' +
  'tcp/203.0.113.100:80  10.77.0.11:80  exec  exec      10.77.0.50:8080  up (weight 5)  12s ago      9/2      ok (12.5 ms): exit 7: weight 5\n' +
  'tcp/203.0.113.100:80  10.77.0.12:80  tcp   connect!  10.77.0.12:80    down           since start  0/0      -\n' +
  '! 1 check does not probe as configured: not SYN: packet_socket: socket(AF_PACKET, SOCK_RAW) failed: errno 1: needs CAP_NET_RAW\n' +
  '\n' +
  'SERVICE               HEALTHY/QUORUM  SORRY\n' +
  'tcp/203.0.113.100:80  5/2             no\n' +
  '\n' +
  '2 checks: 1 up, 1 down; probes: 12 started, 9 ok, 2 failed, 1 timed out, 0 skipped, 1 in flight; 3 transitions\n';

const DOWN: HealthEvent = {
  at: 1_795_000_002_000, service: 'tcp/203.0.113.100:80', service_key: { vip: '203.0.113.100', port: 80, protocol: 'tcp' },
  real: '10.77.0.12:80', real_address: '10.77.0.12', real_port: 80, type: 'http', from: 'up', to: 'down',
  reason: 'status 503 not in 200-299', weight: undefined,
};
const UP: HealthEvent = { ...DOWN, at: 1_795_000_003_250, type: 'exec', from: 'down', to: 'up', reason: 'exit 7: weight 5', weight: 5 };
const DOWN_LINE = '2026-11-18T11:06:42.000Z tcp/203.0.113.100:80 10.77.0.12:80 http up->down: status 503 not in 200-299';
const UP_LINE = '2026-11-18T11:06:43.250Z tcp/203.0.113.100:80 10.77.0.12:80 exec down->up weight 5: exit 7: weight 5';

describe('health table', () => {
  it('renders one line per check, one per service, then the totals', () => {
    assert.equal(formatHealthTable(new MemoryApi().health, NOW), HEALTH_TABLE);
  });

  it('says so when there are no checks, and shows a failed last probe and an active sorry server', () => {
    const report = new MemoryApi().health;
    const empty = { checks: [], services: [], totals: { ...report.totals, targets: 0, up: 0, down: 0 } };
    assert.equal(
      formatHealthTable(empty, NOW),
      '(no health checks)\n\n0 checks: 0 up, 0 down; probes: 12 started, 9 ok, 2 failed, 1 timed out, 0 skipped, 1 in flight; 3 transitions\n',
    );
    report.checks = [{ ...report.checks[0]!, status: 'down', weight: undefined, since: NOW - 3_725_000, last: { ok: false, reason: 'timeout after 2000 ms', ms: 2000.04, at: NOW } }];
    report.services[0]!.health = { healthyWeight: 0, quorum: 1, sorryActive: true };
    const lines = formatHealthTable(report, NOW).split('\n');
    assert.equal(lines[1], 'tcp/203.0.113.100:80  10.77.0.11:80  exec  exec   10.77.0.50:8080  down    1h02m ago  9/2      failed (2000 ms): timeout after 2000 ms');
    assert.equal(lines[4], 'tcp/203.0.113.100:80  0/1             yes');
  });

  it('writes ages as seconds, minutes, hours or days, never negative', () => {
    const cases: [number, string][] = [
      [0, '0s ago'], [999, '0s ago'], [59_999, '59s ago'], [60_000, '1m00s ago'], [3_599_000, '59m59s ago'],
      [3_600_000, '1h00m ago'], [86_399_000, '23h59m ago'], [86_400_000, '1d00h ago'], [90_000_000, '1d01h ago'], [-400, '0s ago'],
    ];
    for (const [age, text] of cases) assert.equal(formatAgo(NOW - age, NOW), text, `age ${age} ms`);
  });

  it('writes one watch line per event: ISO time, service, real, type, from->to, reported weight, reason', () => {
    assert.equal(formatHealthEvent(DOWN), `${DOWN_LINE}\n`);
    assert.equal(formatHealthEvent(UP), `${UP_LINE}\n`);
  });
});

describe('list with health', () => {
  it('adds Health and EffWeight after ipvsadm\'s columns and marks the sorry server', () => {
    const web = service('203.0.113.100', 80, 'tcp', {
      scheduler: 'wrr',
      reals: [
        listed('10.77.0.11', 80, { weight: 3, health: 'up', effective_weight: 1, active_conns: 4 }),
        listed('10.77.0.12', 80, { weight: 2, health: 'down', effective_weight: 0 }),
        listed('10.77.0.13', 80, { weight: 1 }),
        listed('10.77.0.99', 80, { weight: 1, sorry: true, effective_weight: 0 }),
      ],
    });
    assert.equal(
      formatServiceTable([web]),
      'Prot LocalAddress:Port Scheduler Flags\n' +
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn Health EffWeight\n' +
        'TCP  203.0.113.100:80 wrr\n' +
        '  -> 10.77.0.11:80                Masq    3      4          0         up     1\n' +
        '  -> 10.77.0.12:80                Masq    2      0          0         down   0\n' +
        '  -> 10.77.0.13:80                Masq    1      0          0         -      1\n' +
        '  -> 10.77.0.99:80                Masq    1      0          0         sorry  0\n',
    );
  });
});

// ---- end to end: the xlvsctl binary against the server ----

const MEMORY_API = new URL('./memory-api.js', import.meta.url).href;
const SERVER = new URL('../../src/api/server.js', import.meta.url).href;

describe('xlvsctl health', () => {
  let dir: string;
  let address: string;
  let api: MemoryApi;
  let server: ApiServer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xlvs-hctl-'));
    address = `unix:${join(dir, 'xlvsd.sock')}`;
    api = new MemoryApi();
    server = await startApiServer(api, address, pino({ level: 'silent' }));
  });

  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints the health table', async () => {
    // SINCE is relative to the CLI's own clock: an hour and a half-minute ago reads "1h00m ago"
    // however slowly the CLI starts (within 30 s).
    api.health.checks[0]!.since = Date.now() - 3_630_000;
    const r = await xlvsctl(['--socket', address, 'health']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, HEALTH_TABLE.replace('12s ago    ', '1h00m ago  '));
    assert.equal(api.calls.listHealth, 1);
  });

  it('capabilities: prints each with yes/no and what was found, what needs a missing one, and whether SYN checks run', async () => {
    const r = await xlvsctl(['--socket', address, 'capabilities']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, formatCapabilities(api.capabilities));
    assert.match(r.stdout, /^packet_socket  no   socket\(AF_PACKET, SOCK_RAW\) failed: errno 1: needs CAP_NET_RAW\n {20}needed by: SYN health checks$/m);
    assert.match(r.stdout, /^syn checks: configured, not running: packet_socket: .*; tcp checks use connect\(\)$/m);
    const j = await xlvsctl(['--socket', address, 'capabilities', '--json']);
    assert.equal(j.code, 0, j.stderr);
    assert.deepEqual(JSON.parse(j.stdout), api.capabilities);
    const bad = await xlvsctl(['--socket', address, 'capabilities', '--stats']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--stats: does not apply to "capabilities"/);
  });

  it('prints the report as JSON that parses back to it (bigint-safe, undefined fields left out)', async () => {
    const r = await xlvsctl(['--socket', address, 'health', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), JSON.parse(JSON.stringify(api.health)));
    assert.equal((JSON.parse(r.stdout) as { checks: { since: number | null }[] }).checks[1]!.since, null);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`health watch prints each event as it arrives and exits 0 on ${signal}`, async () => {
      let w: Running | undefined;
      try {
        w = start(['--socket', address, 'health', 'watch']);
        await until('the watch to subscribe', () => api.watchers.size === 1);
        for (const f of api.watchers) f(DOWN);
        await until('the first line', () => w!.out().split('\n').length === 2);
        for (const f of api.watchers) f(UP);
        await until('the second line', () => w!.out().split('\n').length === 3);
        w.child.kill(signal);
        const r = await ended(w, `after ${signal}`);
        assert.deepEqual([r.code, r.signal, r.stderr], [0, null, '']);
        assert.equal(r.stdout, `${DOWN_LINE}\n${UP_LINE}\n`);
        await until('the server to drop the cancelled stream', () => api.watchers.size === 0);
      } finally {
        reap(w);
      }
    });
  }

  it('health watch --json prints one JSON object per line', async () => {
    let w: Running | undefined;
    try {
      w = start(['--socket', address, 'health', 'watch', '--json']);
      await until('the watch to subscribe', () => api.watchers.size === 1);
      for (const f of api.watchers) f(DOWN);
      for (const f of api.watchers) f(UP);
      await until('two lines', () => w!.out().split('\n').length === 3);
      w.child.kill('SIGINT');
      const r = await ended(w, 'after SIGINT');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, toJsonLine(DOWN) + toJsonLine(UP));
      assert.deepEqual(r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown), [
        JSON.parse(JSON.stringify(DOWN)),
        UP,
      ]);
    } finally {
      reap(w);
    }
  });

  it('exits 2 for bad health command lines, without contacting the daemon', async () => {
    const before = { ...api.calls };
    const cases: [string[], RegExp][] = [
      [['health', 'wach'], /health subcommand: unknown \(watch\) \(got "wach"\)/],
      [['health', 'watch', 'now'], /health watch: unexpected argument \(got "now"\)/],
      [['health', '--stats'], /--stats: does not apply to "health"/],
      [['health', 'watch', '--weight', '1'], /--weight: does not apply to "health watch"/],
    ];
    for (const [args, message] of cases) {
      const r = await xlvsctl(['--socket', address, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    assert.deepEqual(api.calls, before);
    const help = await xlvsctl(['--help']);
    assert.match(help.stdout, /\n {2}health \[--json\] {3}every health check/);
    assert.match(help.stdout, /\n {2}health watch \[--json\]\n/);
  });

  it('exits 1 when no daemon answers', async () => {
    for (const args of [['health'], ['health', 'watch']]) {
      const r = await xlvsctl(['--socket', `unix:${join(dir, 'nope.sock')}`, ...args]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^xlvsctl: cannot reach xlvsd at unix:.*nope\.sock/);
    }
  });
});

describe('xlvsctl health watch when the daemon goes away', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xlvs-hctl-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 1 naming the daemon when the server closes the stream', async () => {
    const address = `unix:${join(dir, 'closing.sock')}`;
    const api = new MemoryApi();
    const server = await startApiServer(api, address, pino({ level: 'silent' }));
    let w: Running | undefined;
    try {
      w = start(['--socket', address, 'health', 'watch']);
      await until('the watch to subscribe', () => api.watchers.size === 1);
      for (const f of api.watchers) f(DOWN);
      await until('the first line', () => w!.out().split('\n').length === 2);
      await server.close();
      const r = await ended(w, 'after the server closed');
      assert.equal(r.code, 1);
      assert.equal(r.stdout, `${DOWN_LINE}\n`);
      assert.equal(r.stderr, `xlvsctl: health watch ended by xlvsd at ${address}\n`);
    } finally {
      reap(w);
      await server.close();
    }
  });

  it('exits 1 naming the daemon when the daemon process is killed', async () => {
    const address = `unix:${join(dir, 'killed.sock')}`;
    // The daemon in its own process, so SIGKILL cuts the connection as a crash would.
    const daemon = spawn(process.execPath, ['--input-type=module', '-e', `
      const { MemoryApi } = await import(${JSON.stringify(MEMORY_API)});
      const { startApiServer } = await import(${JSON.stringify(SERVER)});
      const { pino } = await import('pino');
      const api = new MemoryApi();
      await startApiServer(api, ${JSON.stringify(address)}, pino({ level: 'silent' }));
      api.watchers.add = function (f) { Set.prototype.add.call(this, f); process.stdout.write('subscribed\\n'); return this; };
      process.stdout.write('ready\\n');
    `], { cwd: new URL('../../..', import.meta.url).pathname });
    let said = '';
    daemon.stdout.on('data', (d: Buffer) => (said += d.toString()));
    let daemonErr = '';
    daemon.stderr.on('data', (d: Buffer) => (daemonErr += d.toString()));
    let w: Running | undefined;
    try {
      await until(`the daemon to listen (stderr: ${daemonErr})`, () => said.includes('ready\n'));
      w = start(['--socket', address, 'health', 'watch']);
      await until('the watch to subscribe', () => said.includes('subscribed\n'));
      daemon.kill('SIGKILL');
      const r = await ended(w, 'after the daemon was killed');
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      // grpc-js words the cut as "Connection dropped"; what follows the address is its own.
      assert.match(r.stderr, new RegExp(`^xlvsctl: health watch broken: cannot reach xlvsd at ${address}: .+\\n$`));
      assert.doesNotMatch(r.stderr, /internal error/);
    } finally {
      reap(w);
      if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
    }
  });
});
