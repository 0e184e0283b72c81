// SPDX-License-Identifier: Apache-2.0
// Issue 15, test 6: forged, replayed and wrong-key heartbeat and sync messages change nothing and
// are counted. Two xlvsd routers in the HA lab (r1 master, r2 backup, in sync). Heartbeats are
// sent as raw frames (an AF_PACKET socket: no address of the peer needs to exist anywhere) with
// r2's address as their source: on the public path from the client's namespace, on the private
// one from a real's, straight to r1's MAC. A genuine heartbeat of r2 is captured from the wire
// (tcpdump on r1's interface) to be replayed and bit-flipped. Then the sync port: a connection
// whose HELLO is signed with a wrong key, and one of garbage. Each is counted in
// status().counters.rejected by its reason; roles, transitions, the sync sessions and r1's table
// stay as they were. Finally a YIELD and a GOODBYE "from r1" with a wrong key do not make r2 take over.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HaPair } from '../../testing/ha-pair.js';
import { openFlows } from '../../testing/ha-flows.js';
import { walkFlows } from '../../bench/flow-scale/flow-scale-walk.js';
import { buildFrame } from '../../testing/frames.js';
import { RawFrames } from '../../src/host/raw-frames.js';
import { libc } from '../../src/kernel/libc.js';
import { decodeHeartbeat, encodeHeartbeat, type Heartbeat } from '../../src/ha/heartbeat.js';
import type { HaLab, RouterName } from '../../lab/ha-lab.js';
import type { HaPath, HaStatus } from '../../src/ha/types.js';

const PORT = 7707;
const SYNC_PORT = 7708;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const FRAMES_JS = fileURLToPath(new URL('../../src/ha/sync-frames.js', import.meta.url));

/** One UDP datagram as a raw frame from `ns`'s eth0 to router `to`'s interface on `path`, source spoofed. */
function sendSpoofed(lab: HaLab, ns: string, to: RouterName, path: HaPath, src: string, payload: Buffer): void {
  const dst = path === 'public' ? lab.addr.v4[to].public : lab.addr.v4[to].private;
  const frame = buildFrame({
    eth: { src: '02:00:00:00:00:99', dst: lab.macOf(to, path) },
    l3: { kind: 'ipv4', src, dst, ttl: 64, l4: { kind: 'udp', sport: PORT, dport: PORT, payload } },
  });
  lab.inNs(ns, () => {
    const raw = new RawFrames({ ifindex: libc.if_nametoindex('eth0') as number, batch: 1, frameMax: 512 });
    try {
      const r = raw.sendFrames([frame]);
      if (r.sent !== 1) throw new Error(`raw send from ${ns}: errno ${r.errno}`);
    } finally {
      raw.close();
    }
  });
}

/** A genuine heartbeat of `from` on `path`, as captured on the receiving router's interface. */
async function capture(pair: HaPair, to: RouterName, path: HaPath, from: string, dir: string): Promise<Buffer> {
  const file = join(dir, `${to}-${path}.pcap`);
  const dev = path === 'public' ? pair.lab.ifaces.public : pair.lab.ifaces.private;
  await pair.lab.exec(pair.lab.routerNs(to), ['timeout', '5', 'tcpdump', '-q', '-i', dev, '-c', '1', '-U', '-w', file, `udp dst port ${PORT} and src host ${from}`]);
  const pcap = readFileSync(file);
  // pcap: 24-byte file header, 16-byte record header, then the Ethernet frame.
  const frame = pcap.subarray(40, 40 + pcap.readUInt32LE(24 + 8));
  const ihl = (frame[14]! & 0x0f) * 4;
  return Buffer.from(new Uint8Array(frame.subarray(14 + ihl + 8)));
}

/** In `ns`: connect to host:SYNC_PORT, read the challenge, send `what`; resolves when the router closed it. */
async function syncAttempt(lab: HaLab, ns: string, host: string, what: 'wrong-key' | 'garbage'): Promise<string> {
  const script = `
    import { connect } from 'node:net';
    import { randomBytes } from 'node:crypto';
    import { FrameWriter, FrameType, encodeHello } from ${JSON.stringify(FRAMES_JS)};
    const s = connect({ host: ${JSON.stringify(host)}, port: ${SYNC_PORT} });
    let got = Buffer.alloc(0), sent = false;
    s.on('data', (c) => {
      got = Buffer.concat([got, c]);
      if (sent || got.length < 16) return;
      sent = true;
      const payload = ${JSON.stringify(what)} === 'garbage' ? Buffer.alloc(200, 0xff)
        : new FrameWriter(randomBytes(32), got.subarray(0, 16)).frame(FrameType.HELLO, encodeHello({ name: 'r2', epoch: Date.now() }));
      s.write(payload);
    });
    s.on('error', (e) => console.log('error ' + e.code));
    s.on('close', () => { console.log(sent ? 'closed by the router' : 'closed before the challenge'); });
    setTimeout(() => { console.log('still open'); process.exit(0); }, 4000).unref();
  `;
  const r = await lab.exec(ns, [process.execPath, '--input-type=module', '-e', script], { timeoutMs: 10_000 });
  return r.stdout.trim();
}

function flowCount(fd: number): number {
  return walkFlows(fd, () => undefined);
}

const ROLE_FIELDS = (s: HaStatus): unknown => ({ role: s.role, transitions: s.counters.transitions, inSync: s.inSync, peerAlive: s.peer.alive, syncIn: s.sync.in.connected && s.sync.in.bulkDone, syncOut: s.sync.out.connected && s.sync.out.bulkDone });

test('forged, bit-flipped, replayed, unknown-peer, old-epoch heartbeats and wrong-key / garbage sync connections change nothing and are counted', async () => {
  const pair = await HaPair.create({ method: 'nat' });
  const dir = mkdtempSync(join(tmpdir(), 'xlvs-forgery-'));
  let fd = -1;
  try {
    await pair.waitSteady();
    const lab = pair.lab;
    const a = lab.addr.v4;
    const key = readFileSync(pair.keyFile);
    fd = openFlows(lab, 'r1');
    const before = { r1: await pair.status('r1'), r2: await pair.status('r2'), flows: flowCount(fd) };
    assert.deepEqual(before.r1.counters.rejected, { forged: 0, replayed: 0, unknownPeer: 0, skewed: 0, malformed: 0 });

    // Genuine heartbeats of r2, from the wire, one per path.
    const pub = await capture(pair, 'r1', 'public', a.r2.public, dir);
    const prv = await capture(pair, 'r1', 'private', a.r2.private, dir);
    const genuine = decodeHeartbeat(pub, key);
    assert.ok(genuine.ok, 'the capture is a heartbeat r2 signed');
    const g = genuine.message;
    const fresh = (over: Partial<Heartbeat>): Heartbeat => ({ ...g, timeMs: Date.now(), seq: g.seq + 1_000_000, ...over });

    const cli = lab.ns.client;
    const real = lab.ns.reals[0]!;
    const flipped = Buffer.from(new Uint8Array(pub));
    flipped[12] = flipped[12]! ^ 0x01; // in r2's name / priority: the MAC no longer matches
    const cases: Array<{ what: string; ns: string; path: HaPath; payload: Buffer; reason: keyof HaStatus['counters']['rejected'] }> = [
      { what: 'wrong key (public)', ns: cli, path: 'public', payload: encodeHeartbeat(fresh({ type: 'advert', priority: 254, role: 'master' }), randomBytes(32)), reason: 'forged' },
      { what: 'wrong key (private)', ns: real, path: 'private', payload: encodeHeartbeat(fresh({ path: 'private', type: 'goodbye' }), randomBytes(32)), reason: 'forged' },
      { what: 'bit-flipped genuine', ns: cli, path: 'public', payload: flipped, reason: 'forged' },
      { what: 'replay of a genuine (public)', ns: cli, path: 'public', payload: pub, reason: 'replayed' },
      { what: 'replay of a genuine (private)', ns: real, path: 'private', payload: prv, reason: 'replayed' },
      { what: 'a public beat replayed on the private path', ns: real, path: 'private', payload: pub, reason: 'replayed' },
      { what: 'unknown node name, right key', ns: cli, path: 'public', payload: encodeHeartbeat(fresh({ name: 'r3', priority: 254, role: 'master' }), key), reason: 'unknownPeer' },
      { what: 'old epoch, right key', ns: cli, path: 'public', payload: encodeHeartbeat(fresh({ epoch: g.epoch - 60_000, seq: 1 << 30, type: 'goodbye' }), key), reason: 'replayed' },
      { what: 'old time, right key', ns: cli, path: 'public', payload: encodeHeartbeat(fresh({ timeMs: Date.now() - 60_000, type: 'yield' }), key), reason: 'skewed' },
    ];
    const expected = { forged: 0, replayed: 0, unknownPeer: 0, skewed: 0, malformed: 0 };
    for (const c of cases) {
      sendSpoofed(lab, c.ns, 'r1', c.path, c.path === 'public' ? a.r2.public : a.r2.private, c.payload);
      expected[c.reason]++;
      const s = await pair.waitFor('r1', (x) => x.counters.rejected[c.reason] >= expected[c.reason], 3_000, `${c.what} counted as ${c.reason}`);
      assert.deepEqual(s.counters.rejected, expected, c.what);
      console.log(`# ${c.what}: counted ${c.reason}`);
    }
    // From the client's own address (not r2's): never decoded, counted as from an unknown peer.
    sendSpoofed(lab, cli, 'r1', 'public', a.client, encodeHeartbeat(fresh({}), key));
    expected.unknownPeer++;
    await pair.waitFor('r1', (x) => x.counters.rejected.unknownPeer >= expected.unknownPeer, 3_000, 'a stranger counted unknownPeer');

    // The sync port, from a real's namespace: a wrong key, and garbage.
    assert.equal(await syncAttempt(lab, real, a.r1.private, 'wrong-key'), 'closed by the router');
    expected.forged++;
    await pair.waitFor('r1', (x) => x.counters.rejected.forged >= expected.forged, 3_000, 'wrong-key sync counted forged');
    assert.equal(await syncAttempt(lab, real, a.r1.private, 'garbage'), 'closed by the router');
    expected.malformed++;
    const after = await pair.waitFor('r1', (x) => x.counters.rejected.malformed >= expected.malformed, 3_000, 'garbage sync counted malformed');
    assert.deepEqual(after.counters.rejected, expected);
    console.log(`# r1 rejected after all: ${JSON.stringify(after.counters.rejected)}`);

    // Nothing changed: roles, transitions, both sync directions, r1's table.
    await sleep(500);
    const r1 = await pair.status('r1');
    const r2 = await pair.status('r2');
    assert.deepEqual(ROLE_FIELDS(r1), ROLE_FIELDS(before.r1));
    assert.deepEqual(ROLE_FIELDS(r2), ROLE_FIELDS(before.r2));
    assert.equal(flowCount(fd), before.flows, 'r1\'s flows unchanged');
    assert.equal(r2.counters.rejected.forged + r2.counters.rejected.replayed + r2.counters.rejected.unknownPeer, 0, 'r2 saw none of it');

    // A forged YIELD and GOODBYE "from r1" with a wrong key: r2 stays backup.
    const r1Beat = decodeHeartbeat(await capture(pair, 'r2', 'public', a.r1.public, dir), key);
    assert.ok(r1Beat.ok);
    const fromR1 = (type: Heartbeat['type'], path: HaPath): Buffer =>
      encodeHeartbeat({ ...r1Beat.message, type, path, timeMs: Date.now(), seq: r1Beat.message.seq + 1_000_000 }, randomBytes(32));
    sendSpoofed(lab, cli, 'r2', 'public', a.r1.public, fromR1('yield', 'public'));
    sendSpoofed(lab, real, 'r2', 'private', a.r1.private, fromR1('goodbye', 'private'));
    await pair.waitFor('r2', (x) => x.counters.rejected.forged >= 2, 3_000, 'forged YIELD and GOODBYE counted');
    await sleep(1_000); // more than the dead time: a goodbye believed would have made r2 master by now
    const r2End = await pair.status('r2');
    const r1End = await pair.status('r1');
    assert.deepEqual({ r1: r1End.role, r2: r2End.role, r2Transitions: r2End.counters.transitions }, { r1: 'master', r2: 'backup', r2Transitions: before.r2.counters.transitions });
    console.log(`# forged YIELD + GOODBYE to r2: rejected ${JSON.stringify(r2End.counters.rejected)}, r2 still ${r2End.role}`);
  } finally {
    if (fd >= 0) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
    await pair.destroy();
  }
});
