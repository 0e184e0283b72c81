// SPDX-License-Identifier: Apache-2.0
// Connection tracking over time: timeouts per state, the reaper, drops by
// reason, and API changes that must survive a daemon restart.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { bpftoolDump } from '../../testing/bpftool-dump.js';
import { endianness } from 'node:os';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import {
  XLVS_AF_INET,
  XLVS_DIR_FORWARD,
  XLVS_DIR_REPLY,
  XLVS_FLOW_F_DNAT,
  XLVS_FLOW_F_SNAT,
  XLVS_FLOW_TCP_CLOSE,
  XLVS_FLOW_TCP_EST,
  XLVS_FLOW_TCP_FIN,
  XLVS_FLOW_UDP,
  XLVS_METHOD_NAT,
} from '../../src/gen/abi.js';

const VIP = '203.0.113.100';
const REAL_ADDRS = ['10.77.0.11', '10.77.0.12', '10.77.0.13'];
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

/** struct xlvs_flow_key / xlvs_flow as bpftool formats them from BTF. bpftool prints every
 * integer as the host reads it, so __be16 ports and the __be32 words of addresses arrive
 * byte-swapped on a little-endian host: decode them with port() and ipv4(). */
interface FlowEntry {
  key: { src: number[]; dst: number[]; sport: number; dport: number; proto: number; family: number };
  value: {
    nat_src: number[];
    nat_dst: number[];
    nat_sport: number;
    nat_dport: number;
    state: number;
    real_id: number;
    svc_id: number;
    dir: number;
    flags: number;
    method: number;
  };
}

const LE = endianness() === 'LE';

/** A __be16 as bpftool printed it, back in host order. */
function port(printed: number): number {
  const b = Buffer.alloc(2);
  if (LE) b.writeUInt16LE(printed);
  else b.writeUInt16BE(printed);
  return b.readUInt16BE(0);
}

/** A __be32 addr[4] holding IPv4 (addr[0]; addr[1..3] must be zero) as bpftool printed it. */
function ipv4(words: number[]): string {
  assert.equal(words.length, 4, `address words ${JSON.stringify(words)}`);
  assert.deepEqual(words.slice(1), [0, 0, 0], `IPv4 address with non-zero addr[1..3]: ${JSON.stringify(words)}`);
  const b = Buffer.alloc(4);
  if (LE) b.writeUInt32LE(words[0]!);
  else b.writeUInt32BE(words[0]!);
  return [...b].join('.');
}

/** The flow table as the kernel holds it (bpftool, not our own code). */
function flows(): FlowEntry[] {
  // The reaper may delete an entry while bpftool walks the map: bpftoolDump leaves it out.
  return bpftoolDump<FlowEntry>(`${xlvsd.pinDir}/maps/flows`);
}

/** 'a.b.c.d:port' of one side of a flow key or of a NAT rewrite. */
const ep = (addr: number[], p: number): string => `${ipv4(addr)}:${port(p)}`;

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
  const udpFlows = now.filter((f) => f.key.proto === 17);
  assert.ok(udpFlows.length >= 12, 'two entries per UDP flow');
  assert.ok(udpFlows.every((f) => f.key.family === XLVS_AF_INET && f.value.state === XLVS_FLOW_UDP && f.value.method === XLVS_METHOD_NAT),
    `UDP entries: ${JSON.stringify(udpFlows)}`);
  const fwd = udpFlows.filter((f) => f.value.dir === XLVS_DIR_FORWARD);
  const rep = udpFlows.filter((f) => f.value.dir === XLVS_DIR_REPLY);
  assert.equal(fwd.length + rep.length, udpFlows.length, 'every entry is forward or reply');
  assert.ok(fwd.length >= 6 && rep.length >= 6, `forward ${fwd.length}, reply ${rep.length}`);
  // nat: the forward entry (client -> VIP) rewrites the destination to a real; the reply
  // entry (real -> client) rewrites the source back to the VIP, and is keyed by exactly
  // what the forward entry sends, reversed
  const replies = new Map(rep.map((f) => [`${ep(f.key.src, f.key.sport)}>${ep(f.key.dst, f.key.dport)}`, f]));
  for (const f of fwd) {
    assert.equal(ep(f.key.dst, f.key.dport), `${VIP}:5353`);
    assert.equal(f.value.flags, XLVS_FLOW_F_DNAT);
    assert.ok(REAL_ADDRS.includes(ipv4(f.value.nat_dst)), `forward to ${ipv4(f.value.nat_dst)}`);
    assert.equal(port(f.value.nat_dport), 5353);
    const r = replies.get(`${ep(f.value.nat_dst, f.value.nat_dport)}>${ep(f.key.src, f.key.sport)}`);
    assert.ok(r, `no reply entry for ${JSON.stringify(f)}`);
    assert.equal(r.value.flags, XLVS_FLOW_F_SNAT);
    assert.equal(ep(r.value.nat_src, r.value.nat_sport), `${VIP}:5353`);
    assert.equal(r.value.real_id, f.value.real_id);
    assert.equal(r.value.svc_id, f.value.svc_id);
  }
  // Closed HTTP connections sit in FIN or CLOSE state, not established.
  const closing = [XLVS_FLOW_TCP_FIN, XLVS_FLOW_TCP_CLOSE] as number[];
  const tcp = now.filter((f) => f.key.proto === 6);
  assert.ok(tcp.length >= 2, `the last HTTP connection's entries are there: ${tcp.length}`);
  assert.ok(tcp.every((f) => closing.includes(f.value.state)), `TCP states ${tcp.map((f) => f.value.state)}`);
  await until('the reaper to empty the table', () => flows().length === 0, 5000);
});

test('an established TCP connection is not reaped while idle flows around it are', async () => {
  const hold = lab.hold({ host: VIP, port: 9000, intervalMs: 100, durationMs: 3000 });
  await hold.waitForReplies(3, 5000);
  await lab.client('udp', ['--host', VIP, '--port', '5353', '--count', '3']);
  await until('UDP flows to be reaped', () => !flows().some((f) => f.key.proto === 17), 5000);
  const held = flows().filter((f) => f.key.proto === 6);
  assert.equal(held.length, 2, 'the held connection keeps both entries');
  assert.deepEqual(held.map((f) => f.value.dir).sort(), [XLVS_DIR_FORWARD, XLVS_DIR_REPLY]);
  assert.ok(held.every((f) => f.value.state === XLVS_FLOW_TCP_EST), `states ${held.map((f) => f.value.state)}`);
  const fwd = held.find((f) => f.value.dir === XLVS_DIR_FORWARD)!;
  assert.equal(ep(fwd.key.dst, fwd.key.dport), `${VIP}:9000`);
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
