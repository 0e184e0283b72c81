// SPDX-License-Identifier: Apache-2.0
// What the unit tests of the API's high-availability surface share (api-ha.test.ts: the gRPC
// server and client; xlvsctl-ha.test.ts: the xlvsctl ha commands): a status with every field
// set, a small HaControl kept in a plain object, and a real gRPC server over the daemon's
// Control on a unix socket in a temp dir, one with HA and one without.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { connectApi, type ApiClient } from '../../src/api/client.js';
import { Control, type ControlOptions } from '../../src/api/control.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { HaError } from '../../src/errors.js';
import type { HaControl, HaEvent, HaStatus, Role } from '../../src/ha/types.js';

export const HA_OFF = 'high availability is not configured (no ha: section)';
export const T0 = 1_796_000_000_000;

/** Every field set, and no two counters alike, so a field swapped or dropped shows. */
export const fixture = (): HaStatus => ({
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
export class TestHa implements HaControl {
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

/** A server over Control(ha) on a fresh socket, and a client of it. */
export async function serve(dir: string, name: string, ha: HaControl | undefined): Promise<{ server: ApiServer; client: ApiClient; address: string }> {
  const address = `unix:${join(dir, `${name}.sock`)}`;
  const server = await startApiServer(control(ha), address, pino({ level: 'silent' }));
  const client = await connectApi(address, { connectTimeoutMs: 2000, callTimeoutMs: 5000 });
  return { server, client, address };
}

/** A server with HA (`on`, over `ha`) and one without (`off`), each with a client. */
export interface HaServers {
  /** The temp dir the sockets are in. */
  dir: string;
  ha: TestHa;
  on: Served;
  off: Served;
  close(): Promise<void>;
}

type Served = Awaited<ReturnType<typeof serve>>;

/** Starts both servers in a fresh temp dir named after `prefix`; close() stops them and removes it. */
export async function serveHa(prefix: string): Promise<HaServers> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const ha = new TestHa();
  const started: Served[] = [];
  const close = async (): Promise<void> => {
    for (const s of started) s.client.close();
    for (const s of started) await s.server.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    started.push(await serve(dir, 'ha', ha));
    started.push(await serve(dir, 'no-ha', undefined));
  } catch (e) {
    await close();
    throw e;
  }
  return { dir, ha, on: started[0]!, off: started[1]!, close };
}
