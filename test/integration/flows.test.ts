// SPDX-License-Identifier: Apache-2.0
// Connection tracking over time: timeouts per state, the reaper, drops by
// reason, and API changes that must survive a daemon restart.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Lab } from '../../src/lab/lab.js';
import { XlvsdProcess } from '../../src/lab/xlvsd-process.js';
import { XLVS_FLOW_TCP_FIN, XLVS_FLOW_TCP_CLOSE } from '../../src/gen/abi.js';

const VIP = '203.0.113.100';
const REALS = (port: number, weight = 1) =>
  `[${[11, 12, 13].map((h) => `{ address: 10.77.0.${h}, port: ${port}, weight: ${weight} }`).join(', ')}]`;
const CONFIG = `interfaces: { public: pub0, private: priv0 }
timeouts: { tcp: 900, tcp_fin: 1, tcp_close: 1, udp: 1 }
services:
  - { vip: ${VIP}, port: 80, scheduler: rr, reals: ${REALS(80)} }
  - { vip: ${VIP}, port: 82, scheduler: rr, reals: ${REALS(80, 0)} }
  - { vip: ${VIP}, port: 9000, scheduler: rr, reals: ${REALS(9000)} }
  - { vip: ${VIP}, port: 5353, protocol: udp, scheduler: rr, reals: ${REALS(5353)} }
`;

let lab: Lab;
let xlvsd: XlvsdProcess;

before(async () => {
  lab = await Lab.create();
  await lab.startRealServers();
  xlvsd = await XlvsdProcess.start(lab, { config: CONFIG, extraArgs: ['--reap-interval-ms', '200'] });
});

after(async () => {
  await xlvsd?.destroy().catch((e) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

interface FlowEntry {
  key: { dport: number; proto: number };
  value: { dir: number; state: number };
}

/** The flow table as the kernel holds it (bpftool, not our own code). */
function flows(): FlowEntry[] {
  const raw = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', `${xlvsd.pinDir}/maps/flows`], { encoding: 'utf8' })) as { formatted: FlowEntry }[];
  return raw.map((e) => e.formatted); // -j gives raw bytes plus a BTF-formatted copy
}

async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('UDP flows expire after the udp timeout and are reaped; closed TCP flows after tcp_fin', async () => {
  const udp = await lab.client('udp', ['--host', VIP, '--port', '5353', '--count', '6']);
  assert.equal(udp.errors, 0);
  const http = await lab.client('http', ['--host', VIP, '--port', '80', '--count', '3']);
  assert.equal(http.errors, 0);
  const now = flows();
  assert.ok(now.filter((f) => f.key.proto === 17).length >= 12, 'two entries per UDP flow');
  // Closed HTTP connections sit in FIN or CLOSE state, not established.
  const closing = [XLVS_FLOW_TCP_FIN, XLVS_FLOW_TCP_CLOSE] as number[];
  assert.ok(now.filter((f) => f.key.proto === 6).every((f) => closing.includes(f.value.state)));
  await until('the reaper to empty the table', () => flows().length === 0, 5000);
});

test('an established TCP connection is not reaped while idle flows around it are', async () => {
  const hold = lab.hold({ host: VIP, port: 9000, intervalMs: 100, durationMs: 3000 });
  await hold.waitForReplies(3, 5000);
  await lab.client('udp', ['--host', VIP, '--port', '5353', '--count', '3']);
  await until('UDP flows to be reaped', () => !flows().some((f) => f.key.proto === 17), 5000);
  assert.equal(flows().filter((f) => f.key.proto === 6).length, 2, 'the held connection keeps both entries');
  const end = await hold.result;
  assert.ok('done' in end && end.received === end.sent, JSON.stringify(end));
});

test('drops are counted by reason: no_real for a service with only quiescent reals, no_flow for stray TCP', async () => {
  const before = await xlvsd.api.drops();
  const r = await lab.client('http', ['--host', VIP, '--port', '82', '--count', '2', '--request-timeout-ms', '1500']);
  assert.equal(r.errors, 2);
  const mid = await xlvsd.api.drops();
  assert.ok(mid.no_real! >= before.no_real! + 2n, `no_real ${before.no_real} -> ${mid.no_real}`);
  // A bare ACK to the VIP that belongs to no connection, from a raw socket (python3 is on the image).
  await lab.exec(lab.ns.client, ['python3', '-c', STRAY_ACK]);
  const end = await xlvsd.api.drops();
  assert.ok(end.no_flow! >= mid.no_flow! + 1n, `no_flow ${mid.no_flow} -> ${end.no_flow}`);
});

// Sends one TCP ACK (no SYN) from the client to VIP:80 through a raw IP socket.
const STRAY_ACK = `
import socket, struct
src, dst = '203.0.113.2', '${VIP}'
def csum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
tcp = struct.pack('!HHIIBBHHH', 40000, 80, 1, 1, 5 << 4, 0x10, 1024, 0, 0)
pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(tcp))
tcp = tcp[:16] + struct.pack('!H', csum(pseudo + tcp)) + tcp[18:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
s.sendto(tcp, (dst, 0))
`;

test('a real removed over the API stays removed after a daemon restart', async () => {
  const svc = { vip: VIP, port: 80, protocol: 'tcp' as const };
  await xlvsd.api.removeReal(svc, '10.77.0.12', 80);
  const r1 = await lab.client('http', ['--host', VIP, '--port', '80', '--count', '10']);
  assert.deepEqual(r1.counts, { rs1: 5, rs3: 5 });
  await xlvsd.stop();
  await xlvsd.launch();
  const list = await xlvsd.api.listServices();
  assert.deepEqual(list.find((s) => s.port === 80)!.reals.map((r) => r.address), ['10.77.0.11', '10.77.0.13']);
  const r2 = await lab.client('http', ['--host', VIP, '--port', '80', '--count', '10']);
  assert.deepEqual(r2.counts, { rs1: 5, rs3: 5 });
  await assert.rejects(xlvsd.api.removeReal(svc, '10.77.0.12', 80), /not found/);
});
