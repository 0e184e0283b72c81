// SPDX-License-Identifier: Apache-2.0
// The API's high-availability surface (GetHaStatus, WatchHa, HaFailover, SetHaHold) and the
// xlvsctl ha commands: the real gRPC server (over the daemon's Control) and client on a unix
// socket in a temp dir, with a small in-test HaControl behind them. The HA manager itself is
// tested elsewhere; this is the API layer's test.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { ApiCallError, connectApi, type ApiClient } from '../../src/api/client.js';
import { Control, type ControlOptions } from '../../src/api/control.js';
import { haEventFromWire, haEventToWire, haStatusFromWire, haStatusToWire } from '../../src/api/convert-ha.js';
import { formatHaEvent, formatHaStatus } from '../../src/api/ha-table.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { ERROR_CODE_METADATA_KEY, errorToStatus } from '../../src/api/status.js';
import { HaError, InvalidArgumentError } from '../../src/errors.js';
import type { HaControl, HaEvent, HaStatus, Role } from '../../src/ha/types.js';

const HA_OFF = 'high availability is not configured (no ha: section)';
const T0 = 1_796_000_000_000;

/** Every field set, and no two counters alike, so a field swapped or dropped shows. */
const fixture = (): HaStatus => ({
  enabled: true,
  node: 'r1',
  role: 'master',
  priority: 200,
  reason: 'peer r2 dead',
  sinceMs: T0,
  hold: false,
  inSync: true,
  peer: {
    name: 'r2',
    role: 'backup',
    priority: 100,
    alive: true,
    paths: [{ path: 'public', alive: true, lastHeardMs: 40 }, { path: 'private', alive: false, lastHeardMs: -1 }],
    restartHoldUntilMs: T0 + 10_000,
  },
  sync: { out: { connected: true, bulkDone: true, records: 1200, lagMs: 3 }, in: { connected: false, bulkDone: false, records: 800, lagMs: 2 } },
  counters: {
    transitions: { backup: 2, master: 1, fault: 4 },
    heartbeatsSent: 1000,
    heartbeatsReceived: 998,
    rejected: { forged: 5, replayed: 6, unknownPeer: 7, skewed: 8, malformed: 9 },
    announcements: 11,
    syncLost: 12,
    syncUnknown: 2 ** 53 - 1,
  },
});

/** A HaControl kept in a plain object: a failover hands over when it may, hold holds. */
class TestHa implements HaControl {
  state = fixture();
  readonly listeners = new Set<(e: HaEvent) => void>();
  calls = { failover: 0, hold: [] as boolean[] };

  status(): HaStatus {
    return structuredClone(this.state);
  }

  watch(listener: (e: HaEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Enters `to`, telling every watcher. */
  become(to: Role, reason: string): void {
    const e: HaEvent = { node: this.state.node, from: this.state.role, to, reason, atMs: this.state.sinceMs + 1000 };
    Object.assign(this.state, { role: to, reason, sinceMs: e.atMs });
    for (const l of this.listeners) l(e);
  }

  async failover(): Promise<void> {
    this.calls.failover++;
    if (this.state.role !== 'master') throw new HaError('E_HA_NOT_MASTER', `failover: r1 is ${this.state.role}, not master`);
    if (!this.state.peer.alive) throw new HaError('E_HA_PEER_DOWN', 'failover: peer r2 is down; nobody to hand over to');
    this.become('backup', 'failover asked over the API');
  }

  async hold(on: boolean): Promise<void> {
    this.calls.hold.push(on);
    this.state.hold = on;
    if (on && this.state.role !== 'backup') this.become('backup', 'hold');
  }
}

/** The daemon's Control with HA only: its HA calls use nothing else of it. */
const control = (ha: HaControl | undefined): Control => new Control({ ha, log: pino({ level: 'silent' }) } as Pick<ControlOptions, 'ha' | 'log'> as ControlOptions);

async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), `timed out waiting until ${what}`);
}

async function rejectsWith(p: Promise<unknown>, grpcCode: grpc.status, code: string, message: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ApiCallError, String(err));
    assert.equal(grpc.status[err.grpcCode], grpc.status[grpcCode], err.message);
    assert.equal(err.code, code);
    assert.equal(err.message, message);
    return true;
  });
}

/** A server over Control(ha) on a fresh socket, and a client of it. */
async function serve(dir: string, name: string, ha: HaControl | undefined): Promise<{ server: ApiServer; client: ApiClient; address: string }> {
  const address = `unix:${join(dir, `${name}.sock`)}`;
  const server = await startApiServer(control(ha), address, pino({ level: 'silent' }));
  const client = await connectApi(address, { connectTimeoutMs: 2000, callTimeoutMs: 5000 });
  return { server, client, address };
}

describe('ha: status mapping and wire forms', () => {
  it('maps HaError codes to gRPC codes, keeping code and message', () => {
    const cases: [HaError, grpc.status][] = [
      [new HaError('E_HA_OFF', HA_OFF), grpc.status.FAILED_PRECONDITION],
      [new HaError('E_HA_NOT_MASTER', 'not master'), grpc.status.FAILED_PRECONDITION],
      [new HaError('E_HA_PEER_DOWN', 'peer down'), grpc.status.UNAVAILABLE],
      [new HaError('E_HA_SYNC', 'sync broke'), grpc.status.INTERNAL],
    ];
    for (const [err, code] of cases) assert.deepEqual(errorToStatus(err), { code, xlvsCode: err.code, details: err.message });
  });

  it('round-trips a status and an event through the wire form; refuses a malformed one naming the field', () => {
    const s = fixture();
    s.peer.role = 'unknown';
    assert.deepEqual(haStatusFromWire(haStatusToWire(s)), s);
    const e: HaEvent = { node: 'r1', from: 'backup', to: 'fault', reason: 'link pub0 down', atMs: T0 };
    assert.deepEqual(haEventFromWire(haEventToWire(e)), e);
    const w = haStatusToWire(s);
    w.peer!.paths[1]!.last_heard_ms = '-2';
    assert.throws(() => haStatusFromWire(w), (err: unknown) => err instanceof InvalidArgumentError && err.field === 'status.peer.paths[1].last_heard_ms');
    const bad = haEventToWire(e);
    bad.to = 'HA_ROLE_UNKNOWN'; // only a peer's role may be unknown
    assert.throws(() => haEventFromWire(bad), /^InvalidArgumentError: to: must be one of HA_ROLE_BACKUP, HA_ROLE_MASTER, HA_ROLE_FAULT/);
  });

  it('renders the status table and watch lines', () => {
    assert.equal(
      formatHaStatus({ ...fixture(), peer: { ...fixture().peer, restartHoldUntilMs: T0 + 60_000 } }, T0 + 12_000),
      'ROUTER     ROLE    PRIORITY  SINCE    REASON\n' +
        'r1 (this)  master  200       12s ago  peer r2 dead\n' +
        'r2 (peer)  backup  100       -        alive\n' +
        '\n' +
        'PATH     PEER  LAST HEARD\n' +
        'public   up    40 ms ago\n' +
        'private  down  never\n' +
        '\n' +
        'SYNC  STATE      BULK     RECORDS  LAG\n' +
        'out   connected  done     1200     3 ms\n' +
        'in    down       pending  800      2 ms\n' +
        '\n' +
        'hold: off; in sync: yes; peer restart hold: until 2026-11-30T00:54:20.000Z\n' +
        'transitions: 2 backup, 1 master, 4 fault; heartbeats: 1000 sent, 998 received; ' +
        'rejected: 5 forged, 6 replayed, 7 unknown peer, 8 skewed, 9 malformed; announcements: 11; sync: 12 lost, 9007199254740991 unknown\n',
    );
    assert.equal(formatHaEvent({ node: 'r1', from: 'backup', to: 'master', reason: 'peer r2 dead', atMs: T0 }), '2026-11-30T00:53:20.000Z r1 backup->master: peer r2 dead\n');
    assert.equal(formatHaEvent({ node: 'r1', from: 'master', to: 'master', reason: 'start', atMs: T0 }), '2026-11-30T00:53:20.000Z r1 master (current): start\n');
  });
});

describe('ha: api server over a unix socket', () => {
  let dir: string;
  let ha: TestHa;
  let on: Awaited<ReturnType<typeof serve>>;
  let off: Awaited<ReturnType<typeof serve>>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xlvs-api-ha-'));
    ha = new TestHa();
    on = await serve(dir, 'ha', ha);
    off = await serve(dir, 'no-ha', undefined);
  });

  after(async () => {
    on?.client.close();
    off?.client.close();
    await on?.server.close();
    await off?.server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('GetHaStatus round-trips every field', async () => {
    ha.state = fixture();
    assert.deepEqual(await on.client.haStatus(), fixture());
    ha.state.peer.role = 'unknown';
    ha.state.peer.alive = false;
    ha.state.peer.restartHoldUntilMs = 0;
    ha.state.peer.paths = [];
    assert.deepEqual(await on.client.haStatus(), ha.state);
  });

  it('WatchHa sends the current role first, then every change in order, and unsubscribes on cancel', async () => {
    ha.state = fixture();
    const got: HaEvent[] = [];
    const errors: Error[] = [];
    const cancel = on.client.watchHa((e) => got.push(e), (e) => errors.push(e));
    await until('the initial event arrived', () => got.length === 1);
    assert.deepEqual(got[0], { node: 'r1', from: 'master', to: 'master', reason: 'peer r2 dead', atMs: T0 });
    assert.equal(ha.listeners.size, 1, 'subscribed');
    ha.become('fault', 'link pub0 down');
    ha.become('backup', 'link pub0 up');
    ha.become('master', 'peer r2 dead');
    await until('three changes arrived', () => got.length === 4);
    assert.deepEqual(got.slice(1).map((e) => `${e.from}->${e.to}: ${e.reason}`), ['master->fault: link pub0 down', 'fault->backup: link pub0 up', 'backup->master: peer r2 dead']);
    cancel();
    await until('the server unsubscribed', () => ha.listeners.size === 0);
    assert.deepEqual(errors, []);
  });

  it('WatchHa ends cleanly when the server closes: the listener removed, the client told', async () => {
    const own = new TestHa();
    const s = await serve(dir, 'closing', own);
    const got: HaEvent[] = [];
    const errors: Error[] = [];
    s.client.watchHa((e) => got.push(e), (e) => errors.push(e));
    await until('the initial event arrived', () => got.length === 1 && own.listeners.size === 1);
    const t0 = Date.now();
    await s.server.close();
    assert.ok(Date.now() - t0 < 4000, 'close did not wait out its grace period for the stream');
    assert.equal(own.listeners.size, 0, 'no listener left behind');
    await until('the client heard', () => errors.length > 0);
    assert.match(errors[0]!.message, /^ha watch ended by xlvsd at unix:/);
    s.client.close();
  });

  it('HaFailover calls through and answers the status after it; refusals map to their gRPC codes', async () => {
    ha.state = fixture();
    const before = ha.calls.failover;
    const after = await on.client.haFailover();
    assert.equal(ha.calls.failover, before + 1);
    assert.deepEqual(after, ha.state);
    assert.equal(after.role, 'backup');
    await rejectsWith(on.client.haFailover(), grpc.status.FAILED_PRECONDITION, 'E_HA_NOT_MASTER', 'failover: r1 is backup, not master');
    ha.state = fixture();
    ha.state.peer.alive = false;
    // UNAVAILABLE from the daemon, with its code: not mistaken for an unreachable daemon.
    await rejectsWith(on.client.haFailover(), grpc.status.UNAVAILABLE, 'E_HA_PEER_DOWN', 'failover: peer r2 is down; nobody to hand over to');
  });

  it('SetHaHold calls through with on and off and answers the status after it; `on` is required', async () => {
    ha.state = fixture();
    ha.calls.hold = [];
    const held = await on.client.setHaHold(true);
    assert.deepEqual([held.hold, held.role], [true, 'backup']);
    const released = await on.client.setHaHold(false);
    assert.deepEqual([released.hold, released.role], [false, 'backup']);
    assert.deepEqual(ha.calls.hold, [true, false]);

    const raw = new grpc.Client(on.address, grpc.credentials.createInsecure());
    const id = (b: Buffer): Buffer => b;
    const send = (bytes: number[]): Promise<grpc.ServiceError> => new Promise((resolve, reject) => {
      raw.makeUnaryRequest('/xlvs.v1.Xlvs/SetHaHold', id, id, Buffer.from(bytes), { deadline: Date.now() + 5000 }, (err) => (err ? resolve(err) : reject(new Error('taken'))));
    });
    try {
      for (const [bytes, details] of [
        [[], 'on: is required (got undefined)'],
        [[0x0a, 0x02, 0x6f, 0x6e], 'on: must be a bool, sent as varint (wire type 0), not as length-delimited (wire type 2); the SetHaHoldRequest was not decoded (got "on")'],
      ] as const) {
        const err = await send([...bytes]);
        assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
        assert.deepEqual(err.metadata.get(ERROR_CODE_METADATA_KEY), ['E_INVALID_ARGUMENT']);
        assert.equal(err.details, details);
      }
    } finally {
      raw.close();
    }
    assert.deepEqual(ha.calls.hold, [true, false], 'nothing reached HA');
  });

  it('without ha every HA call is FAILED_PRECONDITION E_HA_OFF', async () => {
    await rejectsWith(off.client.haStatus(), grpc.status.FAILED_PRECONDITION, 'E_HA_OFF', HA_OFF);
    await rejectsWith(off.client.haFailover(), grpc.status.FAILED_PRECONDITION, 'E_HA_OFF', HA_OFF);
    await rejectsWith(off.client.setHaHold(true), grpc.status.FAILED_PRECONDITION, 'E_HA_OFF', HA_OFF);
    const errors: Error[] = [];
    const got: HaEvent[] = [];
    const cancel = off.client.watchHa((e) => got.push(e), (e) => errors.push(e));
    await until('the watch was refused', () => errors.length > 0);
    await new Promise((r) => setTimeout(r, 50));
    cancel();
    assert.deepEqual(got, []);
    assert.equal(errors.length, 1, errors.map((e) => e.message).join('; '));
    await rejectsWith(Promise.reject(errors[0]), grpc.status.FAILED_PRECONDITION, 'E_HA_OFF', HA_OFF);
  });
});

// ---- end to end: the xlvsctl binary against the server ----

const XLVSCTL = new URL('../../src/cli/xlvsctl.js', import.meta.url).pathname;

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function start(args: string[]): { child: ChildProcess; out: () => string; done: Promise<Run> } {
  const child = spawn(process.execPath, [XLVSCTL, ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Run>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, out: () => stdout, done };
}

const xlvsctl = (args: string[]): Promise<Run> => start(args).done;

describe('ha: xlvsctl', () => {
  let dir: string;
  let ha: TestHa;
  let on: Awaited<ReturnType<typeof serve>>;
  let off: Awaited<ReturnType<typeof serve>>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xlvs-cli-ha-'));
    ha = new TestHa();
    on = await serve(dir, 'ha', ha);
    off = await serve(dir, 'no-ha', undefined);
  });

  after(async () => {
    on?.client.close();
    off?.client.close();
    await on?.server.close();
    await off?.server.close();
    await rm(dir, { recursive: true, force: true });
  });

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
