// SPDX-License-Identifier: Apache-2.0
// The API's high-availability surface (GetHaStatus, WatchHa, HaFailover, SetHaHold): the status
// and event wire forms, and the real gRPC server (over the daemon's Control) and client on a unix
// socket in a temp dir, with a small in-test HaControl behind them (ha-api-fixture.ts). The HA
// manager itself is tested elsewhere; the xlvsctl ha commands in xlvsctl-ha.test.ts.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ApiCallError } from '../../src/api/client.js';
import { haEventFromWire, haEventToWire, haStatusFromWire, haStatusToWire } from '../../src/api/convert-ha.js';
import { formatHaEvent, formatHaStatus } from '../../src/api/ha-table.js';
import { ERROR_CODE_METADATA_KEY, errorToStatus } from '../../src/api/status.js';
import { HaError, InvalidArgumentError } from '../../src/errors.js';
import type { HaEvent } from '../../src/ha/types.js';
import { HA_OFF, T0, TestHa, fixture, serve, serveHa, type HaServers } from './ha-api-fixture.js';
import { until } from './xlvsctl-run.js';

async function rejectsWith(p: Promise<unknown>, grpcCode: grpc.status, code: string, message: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ApiCallError, String(err));
    assert.equal(grpc.status[err.grpcCode], grpc.status[grpcCode], err.message);
    assert.equal(err.code, code);
    assert.equal(err.message, message);
    return true;
  });
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
  let servers: HaServers | undefined;
  let ha: TestHa;
  let on: HaServers['on'];
  let off: HaServers['off'];

  before(async () => {
    servers = await serveHa('xlvs-api-ha-');
    ({ ha, on, off } = servers);
  });

  after(() => servers?.close());

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
    const s = await serve(servers!.dir, 'closing', own);
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
