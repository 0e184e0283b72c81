// SPDX-License-Identifier: Apache-2.0
// HaManager's rejection counters: each refused heartbeat counts once in status().counters.rejected
// (the verifier counts it; the manager adds the verifier's counts, the link's strays and the sync's).
// A real HaManager on loopback (its two heartbeat sockets on 127.0.0.1 / 127.0.0.2), the data
// plane's maps and the sync channel replaced by in-memory stand-ins: no kernel object is involved.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { HaManager } from '../../src/ha/manager.js';
import { HaStateFile } from '../../src/ha/ha-state.js';
import { encodeHeartbeat } from '../../src/ha/heartbeat.js';
import type { HaConfig } from '../../src/ha/types.js';

const log = pino({ level: 'silent' });

function fakeMap<K, V>(): { lookup(k: K): V | undefined; update(k: K, v: V): void; delete(k: K): void; entries(): Iterable<[K, V]> } {
  const m = new Map<string, [K, V]>();
  return {
    lookup: (k) => m.get(JSON.stringify(k, (_, x: unknown) => (typeof x === 'bigint' ? String(x) : x)))?.[1],
    update: (k, v) => void m.set(JSON.stringify(k, (_, x: unknown) => (typeof x === 'bigint' ? String(x) : x)), [k, v]),
    delete: (k) => void m.delete(JSON.stringify(k, (_, x: unknown) => (typeof x === 'bigint' ? String(x) : x))),
    entries: () => [...m.values()],
  };
}

test('a refused heartbeat counts once in status().counters.rejected, by its reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xlvs-ha-counters-'));
  const key = randomBytes(32);
  const port = 30_000 + Math.floor(Math.random() * 20_000);
  const cfg: HaConfig = {
    node: 'r1', priority: 150, local: { public: '127.0.0.1', private: '127.0.0.2' }, peer: { name: 'r2', public: '127.0.0.3', private: '127.0.0.4' },
    port, syncPort: port + 1, intervalMs: 100, deadIntervals: 3, key, keyFile: '/dev/null', preempt: true, preemptDelayMs: 0, restartHoldMs: 0,
    maxSkewMs: 5000, gateway: [], announce: { count: 0, spacingMs: 10, refreshMs: 0 },
  };
  const noRejections = { forged: 0, replayed: 0, unknownPeer: 0, skewed: 0, malformed: 0 };
  const sync = {
    start: async () => undefined, stop: async () => undefined, onInSync: () => () => undefined, rejected: () => ({ ...noRejections }), lost: () => 0, unknown: () => 0,
    status: () => ({ out: { connected: false, bulkDone: false, records: 0, lagMs: 0 }, in: { connected: false, bulkDone: false, records: 0, lagMs: 0 } }),
  };
  const announcer = { burst: async () => ({ sent: 0, failed: 0, errno: 0 }) };
  const m = await HaManager.start({
    config: cfg, maps: { ha: fakeMap(), haFloating: fakeMap() } as never, stateFile: new HaStateFile(join(dir, 'state'), log), log,
    floating: () => ({ public: [], private: [] }), announcers: { public: announcer, private: announcer } as never, faultCheck: () => undefined, sync: sync as never,
  });
  const peer = createSocket('udp4');
  try {
    await new Promise<void>((resolve) => peer.bind({ address: '127.0.0.3', port: 0 }, resolve));
    const beat = { type: 'advert' as const, name: 'r2', priority: 100, role: 'backup' as const, hold: false, inSync: false, bulkDone: false, path: 'public' as const, epoch: Date.now(), seq: 1, timeMs: Date.now(), holdMs: 0, syncLagMs: 0 };
    const send = (b: Buffer): Promise<void> => new Promise((resolve) => peer.send(new Uint8Array(b), port, '127.0.0.1', () => resolve()));
    const until = async (pred: () => boolean): Promise<void> => {
      for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 5));
    };
    await send(encodeHeartbeat(beat, randomBytes(32)));
    await until(() => m.status().counters.rejected.forged > 0);
    await send(encodeHeartbeat({ ...beat, name: 'r3' }, key));
    await until(() => m.status().counters.rejected.unknownPeer > 0);
    await send(encodeHeartbeat({ ...beat, timeMs: Date.now() - 60_000 }, key));
    await until(() => m.status().counters.rejected.skewed > 0);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(m.status().counters.rejected, { ...noRejections, forged: 1, unknownPeer: 1, skewed: 1 });
  } finally {
    peer.close();
    await m.stop('leave');
    rmSync(dir, { recursive: true, force: true });
  }
});
