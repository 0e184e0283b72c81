// SPDX-License-Identifier: Apache-2.0
// xlvs_decap end to end: a "router" namespace sends LVS-TUN packets (IPIP, IPv6-in-IPv6,
// IPv6-in-IPv4, IPv4-in-IPv6) over a veth to a "real" namespace that holds the VIPs on lo and
// runs the program, attached with the xlvs-decap CLI. Real packets, real sockets, exact counts.
// Only what is ours is stripped: tunnels to the real's own address, from an allowed router,
// carrying a packet to a VIP; the rest is counted under its reason.
//
// The link is quiet apart from our packets: static neighbours, no DAD, no link-local
// addresses, no router solicitations; so even the `pass` counter must match exactly.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import pino from 'pino';
import { fileURLToPath } from 'node:url';
import { nsArgv, run } from '../../lab/proc.js';
import { CommandError } from '../../lab/errors.js';
import { stopChild } from '../../lab/child.js';
import { guard, unguard } from '../../lab/exit-guard.js';
import { deleteNamespace, killNamespacePids, listNamespaces, removeRecord, removeRecordSync, writeRecord } from '../../lab/registry.js';
import { unpin } from '../../src/kernel/bpffs.js';
import { XLVS_DECAP_STAT } from '../../src/gen/decap-abi.js';

const CLI = fileURLToPath(new URL('../../src/cli/xlvs-decap.js', import.meta.url));
const PASS_OBJECT = fileURLToPath(new URL('../../../build/xlvs_pass.bpf.o', import.meta.url));

const VIP4 = '203.0.113.100';
const VIP6 = '2001:db8:100::100';
const CLIENT4 = '198.51.100.7';
const CLIENT6 = '2001:db8:c::7';
const RTR = { v4: '10.99.0.1', v6: 'fd00:99::1', v4b: '10.99.0.3', v6b: 'fd00:99::3', mac: '02:00:0a:63:00:01', dev: 'to-real' };
const REAL = { v4: '10.99.0.2', v6: 'fd00:99::2', mac: '02:00:0a:63:00:02', dev: 'eth0' };
/** An address on the real's link that is not the real's: tunnels to it are not ours. */
const OTHER = { v4: '10.99.0.9', v6: 'fd00:99::9' };
/** Where a tunnelled packet must not be sent on to: neither a VIP nor anywhere near. */
const ELSEWHERE = { v4: '192.0.2.77', v6: '2001:db8:e::77' };
const UDP_PORT = 7000;
const TCP_PORT = 8080;

const tag = randomBytes(2).toString('hex');
const prefix = `xlvs-${tag}-`;
const ns = { rtr: `${prefix}rtr`, real: `${prefix}rs1` };
const pinDir = `/sys/fs/bpf/xlvs-decap-test-${tag}`;
const created: string[] = [];
let server: Listener | undefined;
const log = pino({ level: 'warn' }, pino.destination(2));

// ---------------------------------------------------------------------------------------------
// Python tools. SENDER runs in the router namespace; LISTENER in the real one.

const PY_COMMON = `
import socket, struct, json, sys, time, os
def csum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def fam(a): return 6 if ':' in a else 4
def pton(a): return socket.inet_pton(socket.AF_INET6 if fam(a) == 6 else socket.AF_INET, a)
def ip4(src, dst, proto, payload, frag_off=0, tot_len=None):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, tot_len or 20 + len(payload), 0x1234, frag_off, 64, proto, 0, pton(src), pton(dst))
    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + payload
def ip6(src, dst, nh, payload, plen=None):
    return struct.pack('!IHBB16s16s', 0x60000000, len(payload) if plen is None else plen, nh, 64, pton(src), pton(dst)) + payload
def l4(src, dst, proto, seg):
    if fam(src) == 4: pseudo = pton(src) + pton(dst) + struct.pack('!BBH', 0, proto, len(seg))
    else: pseudo = pton(src) + pton(dst) + struct.pack('!IxxxB', len(seg), proto)
    off = 6 if proto == 17 else 16
    return seg[:off] + struct.pack('!H', csum(pseudo + seg) or 0xffff) + seg[off + 2:]
def inner(p):
    if p['l4'] == 'udp':
        data = p['payload'].encode()
        seg = l4(p['isrc'], p['idst'], 17, struct.pack('!HHHH', p['sport'], p['dport'], 8 + len(data), 0) + data)
        proto = 17
    else:
        seg = l4(p['isrc'], p['idst'], 6, struct.pack('!HHIIBBHHH', p['sport'], p['dport'], p['seq'], 0, 5 << 4, 0x02, 65535, 0, 0))
        proto = 6
    return ip4(p['isrc'], p['idst'], proto, seg) if fam(p['isrc']) == 4 else ip6(p['isrc'], p['idst'], proto, seg)
`;

// Commands: "raw" sends each packet's inner packet through a kernel raw socket of protocol 4
// or 41 (the kernel writes the outer header); "frame" writes whole Ethernet frames (outer
// header by hand, optionally broken); "plain" sends un-encapsulated UDP; "syn" sends an
// encapsulated SYN and waits for the SYN-ACK on the wire. Prints one JSON line.
const SENDER = `${PY_COMMON}
cmd, spec = sys.argv[1], json.loads(sys.argv[2])
def proto_of(p): return 4 if fam(p['isrc']) == 4 else 41
def raw_send(p):
    af = socket.AF_INET if fam(p['odst']) == 4 else socket.AF_INET6
    s = socket.socket(af, socket.SOCK_RAW, proto_of(p))
    s.bind((p['osrc'], 0))
    s.sendto(inner(p), (p['odst'], 0))
    s.close()
def frame(p):
    pkt, nh, mangle = inner(p), proto_of(p), p.get('mangle')
    if mangle == 'badver': pkt = (bytes([0x60]) if nh == 4 else bytes([0x45])) + pkt[1:]
    if mangle == 'trunc': pkt = pkt[:12]
    if mangle == 'biglen' and nh == 4: pkt = pkt[:2] + struct.pack('!H', len(pkt) + 100) + pkt[4:]
    if mangle == 'biglen' and nh == 41: pkt = pkt[:4] + struct.pack('!H', len(pkt) + 100) + pkt[6:]
    if fam(p['odst']) == 4:
        outer = ip4(p['osrc'], p['odst'], nh, pkt, frag_off=0x2000 if mangle == 'frag' else 0)
        etype = 0x0800
    elif mangle == 'frag':
        outer = ip6(p['osrc'], p['odst'], 44, struct.pack('!BBHI', nh, 0, 1, 0xabcd) + pkt)
        etype = 0x86dd
    elif mangle == 'dstopts':
        # A destination-options header with the tunnel encapsulation limit option (RFC 2473).
        outer = ip6(p['osrc'], p['odst'], 60, struct.pack('!BBBBBBBB', nh, 0, 4, 1, 4, 1, 0, 0) + pkt)
        etype = 0x86dd
    else:
        outer = ip6(p['osrc'], p['odst'], nh, pkt)
        etype = 0x86dd
    dst, src = bytes.fromhex(spec['dmac'].replace(':', '')), bytes.fromhex(spec['smac'].replace(':', ''))
    return dst + src + struct.pack('!H', etype) + outer
if cmd == 'raw':
    for p in spec['packets']: raw_send(p)
    print(json.dumps({'sent': len(spec['packets'])}))
elif cmd == 'frame':
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((spec['dev'], 0))
    for p in spec['packets']: s.send(frame(p))
    print(json.dumps({'sent': len(spec['packets'])}))
elif cmd == 'plain':
    for p in spec['packets']:
        s = socket.socket(socket.AF_INET if fam(p['idst']) == 4 else socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind((p['isrc'], 0))
        s.sendto(p['payload'].encode(), (p['idst'], p['dport']))
        s.close()
    print(json.dumps({'sent': len(spec['packets'])}))
elif cmd == 'syn':
    p = spec['packets'][0]
    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    sniff.bind((spec['dev'], 0))
    raw_send(p)
    deadline, found = time.time() + spec['timeout'], None
    while found is None and time.time() < deadline:
        sniff.settimeout(max(0.01, deadline - time.time()))
        try: data, addr = sniff.recvfrom(65535)
        except socket.timeout: break
        if addr[2] == socket.PACKET_OUTGOING: continue
        etype = struct.unpack('!H', data[12:14])[0]
        if etype == 0x0800 and data[23] == 6:
            src, dst, seg = socket.inet_ntop(socket.AF_INET, data[26:30]), socket.inet_ntop(socket.AF_INET, data[30:34]), data[14 + (data[14] & 15) * 4:]
        elif etype == 0x86dd and data[20] == 6:
            src, dst, seg = socket.inet_ntop(socket.AF_INET6, data[22:38]), socket.inet_ntop(socket.AF_INET6, data[38:54]), data[54:]
        else: continue
        sport, dport, seq, ack, _, flags = struct.unpack('!HHIIBB', seg[:14])
        if (src, dst, sport, dport) == (p['idst'], p['isrc'], p['dport'], p['sport']):
            found = {'etype': etype, 'src': src, 'dst': dst, 'sport': sport, 'dport': dport, 'flags': flags, 'ack': ack}
    print(json.dumps({'synack': found}))
`;

// Binds UDP and TCP (listening, never accepting: the kernel answers SYNs) on both VIPs; prints
// READY, then one JSON line per datagram. Exits when stdin closes, or after 300 s at most.
const LISTENER = `${PY_COMMON}
import select
vip4, vip6, uport, tport = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
udp, tcp = [], []
for af, a in ((socket.AF_INET, vip4), (socket.AF_INET6, vip6)):
    u = socket.socket(af, socket.SOCK_DGRAM); u.bind((a, uport)); udp.append(u)
    t = socket.socket(af, socket.SOCK_STREAM); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind((a, tport)); t.listen(16); tcp.append(t)
print('READY', flush=True)
end = time.time() + 300
while time.time() < end:
    r, _, _ = select.select(udp + [0], [], [], 1)
    for s in r:
        if s == 0:
            if os.read(0, 4096) == b'': sys.exit(0)
            continue
        data, addr = s.recvfrom(65535)
        print(json.dumps({'from': addr[0], 'to_port': uport, 'data': data.decode()}), flush=True)
`;

// ---------------------------------------------------------------------------------------------

interface Packet {
  osrc?: string;
  odst?: string;
  isrc: string;
  idst: string;
  l4: 'udp' | 'syn';
  sport: number;
  dport: number;
  payload?: string;
  seq?: number;
  mangle?: 'frag' | 'badver' | 'trunc' | 'biglen' | 'dstopts';
}

interface Datagram {
  from: string;
  data: string;
}

/** The listener in the real namespace and the datagrams it has reported so far. */
class Listener {
  readonly got: Datagram[] = [];
  private stderr = '';
  private constructor(readonly child: ChildProcess) {}

  static async start(): Promise<Listener> {
    const [file, ...args] = nsArgv(ns.real, ['python3', '-c', LISTENER, VIP4, VIP6, String(UDP_PORT), String(TCP_PORT)]);
    const l = new Listener(spawn(file!, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
    l.child.stderr!.on('data', (d: Buffer) => (l.stderr = (l.stderr + d.toString()).slice(-4000)));
    let ready = false;
    createInterface({ input: l.child.stdout! }).on('line', (line) => {
      if (line === 'READY') ready = true;
      else l.got.push(JSON.parse(line) as Datagram);
    });
    await until('the listener to be ready', () => ready || l.child.exitCode !== null, 10_000);
    if (!ready) throw new Error(`listener failed: ${l.stderr}`);
    return l;
  }

  /** Waits for `n` more datagrams than `from` (bounded), then returns everything after `from`. */
  async next(from: number, n: number, ms = 5000): Promise<Datagram[]> {
    await until(() => `${n} datagram(s) at the listener (got ${this.got.length - from}); stderr: ${this.stderr}`, () => this.got.length >= from + n, ms);
    return this.got.slice(from);
  }

  async stop(): Promise<void> {
    this.child.stdin!.end();
    await stopChild(this.child);
  }
}

async function until(what: string | (() => string), cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const inRtr = (cmd: string[], timeoutMs?: number) => run(nsArgv(ns.rtr, cmd), timeoutMs);
const inReal = (cmd: string[], timeoutMs?: number) => run(nsArgv(ns.real, cmd), timeoutMs);

async function send(cmd: 'raw' | 'frame' | 'plain' | 'syn', packets: Packet[]): Promise<Record<string, unknown>> {
  const spec = { packets, dev: RTR.dev, smac: RTR.mac, dmac: REAL.mac, timeout: 5 };
  const { stdout } = await inRtr(['python3', '-c', SENDER, cmd, JSON.stringify(spec)], 15_000);
  return JSON.parse(stdout) as Record<string, unknown>;
}

/** The xlvs-decap CLI in the real namespace (where its DEV lives). */
function decap(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return inReal([process.execPath, CLI, '--pin-dir', pinDir, ...args], 20_000);
}

/** The CLI's exit code and stderr for a command expected to fail. */
async function decapFails(...args: string[]): Promise<{ code: number | null; stderr: string }> {
  try {
    await decap(...args);
  } catch (e) {
    if (e instanceof CommandError) return { code: e.exitCode, stderr: e.stderr };
    throw e;
  }
  throw new Error(`xlvs-decap ${args.join(' ')} succeeded`);
}

type Counters = Record<string, bigint>;
const NAMES = Object.keys(XLVS_DECAP_STAT).filter((k) => k !== 'MAX').map((k) => k.toLowerCase());

interface Status {
  dev: string;
  link: { id: number; progId: number; ifindex: number } | null;
  mode: string | null;
  allow: string[];
  local: string[];
  vips: string[];
  counters: Record<string, string>;
}

async function status(): Promise<Status> {
  const list = JSON.parse((await decap('status', REAL.dev, '--json')).stdout) as Status[];
  assert.equal(list.length, 1);
  return list[0]!;
}

async function counters(): Promise<Counters> {
  const c = (await status()).counters;
  assert.deepEqual(Object.keys(c).sort(), [...NAMES].sort());
  return Object.fromEntries(NAMES.map((n) => [n, BigInt(c[n]!)]));
}

/** Asserts that exactly these counters moved since `before`, by exactly these amounts. */
async function expectDelta(before: Counters, want: Partial<Record<string, number>>): Promise<Counters> {
  const now = await counters();
  const delta = Object.fromEntries(NAMES.map((n) => [n, Number(now[n]! - before[n]!)]));
  assert.deepEqual(delta, Object.fromEntries(NAMES.map((n) => [n, want[n] ?? 0])));
  return now;
}

/** What the real's admin types: the router's addresses allowed, the VIPs on lo. */
const ATTACH = ['--allow', RTR.v4, '--allow', RTR.v6, '--vip', VIP4, '--vip', VIP6];

const udp = (outer: 4 | 6, inner: 4 | 6, payload: string, osrc?: string): Packet => ({
  osrc: osrc ?? (outer === 4 ? RTR.v4 : RTR.v6),
  odst: outer === 4 ? REAL.v4 : REAL.v6,
  isrc: inner === 4 ? CLIENT4 : CLIENT6,
  idst: inner === 4 ? VIP4 : VIP6,
  l4: 'udp',
  sport: 40000,
  dport: UDP_PORT,
  payload,
});

// ---------------------------------------------------------------------------------------------

const teardownSync = {
  teardownSync(): void {
    for (const n of created) {
      try {
        execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
      } catch (e) {
        console.error(`exit-handler: ip netns del ${n} failed`, e);
      }
    }
    unpin(pinDir);
    removeRecordSync(prefix, log);
  },
};

before(async () => {
  assert.ok(!(await listNamespaces()).some((n) => n.startsWith(prefix)), `namespaces ${prefix}* exist already`);
  await writeRecord(prefix, [ns.rtr, ns.real]);
  guard(teardownSync);
  for (const n of [ns.rtr, ns.real]) {
    await run(['ip', 'netns', 'add', n]);
    created.push(n);
    await run(['ip', '-n', n, 'link', 'set', 'lo', 'up']);
  }
  await run(['ip', 'link', 'add', RTR.dev, 'netns', ns.rtr, 'address', RTR.mac, 'type', 'veth', 'peer', 'name', REAL.dev, 'netns', ns.real, 'address', REAL.mac]);
  // No solicited-node multicast groups on the router side, hence no MLD reports from it
  // (NOARP; the permanent neighbours below still give its frames the right MAC).
  await run(['ip', '-n', ns.rtr, 'link', 'set', 'dev', RTR.dev, 'arp', 'off']);
  for (const [n, dev, me, peer] of [[ns.rtr, RTR.dev, RTR, REAL], [ns.real, REAL.dev, REAL, RTR]] as const) {
    // Quiet link: no link-local address (so no DAD, MLD for it or router solicitation) and
    // permanent neighbours (no ARP/ND), so that the counters see only the test's packets.
    for (const s of ['addr_gen_mode=1', 'accept_dad=0', 'router_solicitations=0']) await run(nsArgv(n, ['sysctl', '-q', '-w', `net.ipv6.conf.${dev}.${s}`]));
    await run(nsArgv(n, ['ethtool', '-K', dev, 'rx', 'off', 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']));
    await run(['ip', '-n', n, 'addr', 'add', `${me.v4}/24`, 'dev', dev]);
    await run(['ip', '-n', n, 'addr', 'add', `${me.v6}/64`, 'dev', dev, 'nodad']);
    await run(['ip', '-n', n, 'neigh', 'replace', peer.v4, 'lladdr', peer.mac, 'nud', 'permanent', 'dev', dev]);
    await run(['ip', '-n', n, 'neigh', 'replace', peer.v6, 'lladdr', peer.mac, 'nud', 'permanent', 'dev', dev]);
  }
  await run(['ip', '-n', ns.rtr, 'addr', 'add', `${RTR.v4b}/24`, 'dev', RTR.dev]);
  await run(['ip', '-n', ns.rtr, 'addr', 'add', `${RTR.v6b}/64`, 'dev', RTR.dev, 'nodad']);
  // The real server: VIPs on lo, replies to clients through the router (never tunnelled back).
  await run(['ip', '-n', ns.real, 'addr', 'add', `${VIP4}/32`, 'dev', 'lo']);
  await run(['ip', '-n', ns.real, 'addr', 'add', `${VIP6}/128`, 'dev', 'lo']);
  await run(['ip', '-n', ns.rtr, 'link', 'set', RTR.dev, 'up']);
  await run(['ip', '-n', ns.real, 'link', 'set', REAL.dev, 'up']);
  await run(['ip', '-n', ns.real, 'route', 'add', 'default', 'via', RTR.v4]);
  await run(['ip', '-n', ns.real, '-6', 'route', 'add', 'default', 'via', RTR.v6]);
  // Direct (untunnelled) packets to the VIPs, for the "passes untouched" case.
  await run(['ip', '-n', ns.rtr, 'route', 'add', `${VIP4}/32`, 'via', REAL.v4]);
  await run(['ip', '-n', ns.rtr, '-6', 'route', 'add', `${VIP6}/128`, 'via', REAL.v6]);
  // The clients are nowhere: their SYN-ACKs die silently in the router (without a route the
  // IPv6 stack would answer each one with an ICMPv6 unreachable back to the real server).
  await run(['ip', '-n', ns.rtr, 'route', 'add', 'blackhole', `${CLIENT4}/32`]);
  await run(['ip', '-n', ns.rtr, '-6', 'route', 'add', 'blackhole', `${CLIENT6}/128`]);
  server = await Listener.start();
});

after(async () => {
  const problems: unknown[] = [];
  await server?.stop().catch((e: unknown) => problems.push(e));
  for (const n of created) {
    try {
      await killNamespacePids(n, log);
      await deleteNamespace(n);
    } catch (e) {
      problems.push(e);
    }
  }
  unpin(pinDir);
  await removeRecord(prefix).catch((e: unknown) => problems.push(e));
  unguard(teardownSync);
  assert.deepEqual(problems, [], 'teardown problems');
  assert.ok(!(await listNamespaces()).some((n) => n.startsWith(prefix)), 'namespaces left behind');
});

// ---------------------------------------------------------------------------------------------

test('attach: UDP in all four tunnel kinds reaches the VIP listener, each packet counted once', async () => {
  const out = await decap('attach', REAL.dev, ...ATTACH);
  assert.equal(out.stdout, `xlvs-decap attached to eth0 (native): decapsulating tunnels from ${RTR.v4}, ${RTR.v6} to ${[REAL.v4, REAL.v6, VIP4, VIP6].sort().join(', ')}, for VIPs ${VIP4}, ${VIP6}\n`);
  const st = await status();
  assert.equal(st.mode, 'native');
  // The local set is every address of the namespace but 127.0.0.1 and ::1 (lo holds both).
  assert.deepEqual([st.allow, st.local, st.vips], [[RTR.v4, RTR.v6], [REAL.v4, VIP4, REAL.v6, VIP6].sort(), [VIP4, VIP6].sort()]);
  const c0 = await counters();
  assert.deepEqual(Object.values(c0), NAMES.map(() => 0n), 'a fresh attachment counts from zero');

  const packets: Packet[] = [];
  for (const [outer, inner] of [[4, 4], [4, 6], [6, 4], [6, 6]] as const) {
    for (let i = 0; i < 5; i++) packets.push(udp(outer, inner, `${inner}in${outer}-${i}`));
  }
  const from = server!.got.length;
  await send('raw', packets);
  const got = await server!.next(from, packets.length);
  assert.deepEqual(got.map((d) => d.data).sort(), packets.map((p) => p.payload!).sort());
  for (const d of got) assert.equal(d.from, d.data.startsWith('4in') ? CLIENT4 : CLIENT6, 'the client address, not the router');
  await expectDelta(c0, { decap_v4: 10, decap_v6: 10 });

  // The same counters read with bpftool, independently of our map code.
  const dump = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', `${pinDir}/${REAL.dev}/maps/decap_stats`], { encoding: 'utf8' })) as {
    formatted: { key: number; values: { value: number }[] };
  }[];
  const byKey = new Map(dump.map((e) => [e.formatted.key, e.formatted.values.reduce((s, v) => s + v.value, 0)]));
  assert.equal(byKey.get(XLVS_DECAP_STAT.DECAP_V4), 10);
  assert.equal(byKey.get(XLVS_DECAP_STAT.DECAP_V6), 10);
});

test('TCP: a tunnelled SYN to the VIP is answered by a SYN-ACK sent straight to the client', async () => {
  for (const [outer, inner] of [[4, 4], [6, 6]] as const) {
    const c0 = await counters();
    const seq = 1000 + outer;
    const syn: Packet = { ...udp(outer, inner, ''), l4: 'syn', sport: 41000 + outer, dport: TCP_PORT, seq };
    const r = (await send('syn', [syn])) as { synack: { etype: number; src: string; dst: string; flags: number; ack: number } | null };
    assert.ok(r.synack, `no SYN-ACK for the ${inner}in${outer} SYN`);
    // Plain IP on the wire (not tunnelled back), from the VIP to the client, SYN|ACK, ack = seq + 1.
    assert.equal(r.synack.etype, inner === 4 ? 0x0800 : 0x86dd);
    assert.deepEqual([r.synack.src, r.synack.dst], inner === 4 ? [VIP4, CLIENT4] : [VIP6, CLIENT6]);
    assert.equal(r.synack.flags, 0x12);
    assert.equal(r.synack.ack, seq + 1);
    await expectDelta(c0, outer === 4 ? { decap_v4: 1 } : { decap_v6: 1 });
  }
});

test('packets that are not tunnelled pass untouched and are counted as pass', async () => {
  const c0 = await counters();
  const plain = [4, 6, 4, 6].map((f, i): Packet => ({ ...udp(4, f as 4 | 6, `plain-${i}`), isrc: f === 4 ? RTR.v4 : RTR.v6 }));
  const from = server!.got.length;
  await send('plain', plain);
  const got = await server!.next(from, plain.length);
  assert.deepEqual(got.map((d) => d.data).sort(), plain.map((p) => p.payload!).sort());
  // Sent from the router's own addresses: they arrived as they were sent.
  assert.deepEqual(new Set(got.map((d) => d.from)), new Set([RTR.v4, RTR.v6]));
  await expectDelta(c0, { pass: 4 });
});

test('outer fragments pass untouched; broken inner headers are dropped; dst options are skipped', async () => {
  const c0 = await counters();
  const bad: Packet[] = [
    { ...udp(4, 4, 'frag4'), mangle: 'frag' },
    { ...udp(6, 6, 'frag6'), mangle: 'frag' },
    { ...udp(4, 4, 'badver4'), mangle: 'badver' },
    { ...udp(6, 6, 'badver6'), mangle: 'badver' },
    { ...udp(4, 4, 'trunc4'), mangle: 'trunc' },
    { ...udp(6, 6, 'trunc6'), mangle: 'trunc' },
    { ...udp(4, 4, 'biglen4'), mangle: 'biglen' },
    { ...udp(4, 6, 'biglen6'), mangle: 'biglen' },
  ];
  // Hand-written outer headers that are fine must decapsulate too; the last one also marks
  // the end: frames on the veth arrive in order, so once it is in, all the others were seen.
  const good: Packet[] = [udp(6, 4, 'dstopts-ok'), udp(4, 6, 'frame-ok')];
  good[0]!.mangle = 'dstopts';
  const from = server!.got.length;
  await send('frame', [...bad, ...good]);
  const got = await server!.next(from, good.length);
  await new Promise((r) => setTimeout(r, 200)); // room for anything that should not have come
  assert.deepEqual(server!.got.slice(from).map((d) => d.data).sort(), ['dstopts-ok', 'frame-ok'], JSON.stringify(got));
  await expectDelta(c0, { fragment: 2, bad_inner: 6, decap_v4: 1, decap_v6: 1 });
});

test('a tunnel to an address that is not this host\'s is not ours: passed to the kernel untouched, counted not_local', async () => {
  const c0 = await counters();
  // Allowed source, inner packet to a VIP, right MAC: only the outer destination is wrong.
  const foreign: Packet[] = [
    { ...udp(4, 4, 'not-local-4in4'), odst: OTHER.v4 },
    { ...udp(6, 6, 'not-local-6in6'), odst: OTHER.v6 },
    { ...udp(4, 6, 'not-local-6in4'), odst: OTHER.v4 },
    { ...udp(6, 4, 'not-local-4in6'), odst: OTHER.v6 },
  ];
  const marker = udp(4, 4, 'local-ok'); // frames arrive in order: after it, all were seen
  const from = server!.got.length;
  await send('frame', [...foreign, marker]);
  await server!.next(from, 1);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(server!.got.slice(from).map((d) => d.data), ['local-ok']);
  await expectDelta(c0, { not_local: 4, decap_v4: 1 });
});

test('a tunnelled packet whose inner destination is not a VIP is dropped and counted not_vip', async () => {
  const c0 = await counters();
  // From the allowed router, to the real: only the inner destination is wrong. The real's own
  // address is local, so without the check the kernel would take these; the others it would
  // route on.
  const notVip: Packet[] = [
    { ...udp(4, 4, 'to-real-4in4'), idst: REAL.v4 },
    { ...udp(6, 6, 'to-real-6in6'), idst: REAL.v6 },
    { ...udp(4, 4, 'elsewhere-4in4'), idst: ELSEWHERE.v4 },
    { ...udp(6, 6, 'elsewhere-6in6'), idst: ELSEWHERE.v6 },
    { ...udp(6, 4, 'elsewhere-4in6'), idst: ELSEWHERE.v4 },
  ];
  const marker = udp(6, 6, 'vip-ok');
  const from = server!.got.length;
  await send('raw', [...notVip, marker]);
  await server!.next(from, 1);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(server!.got.slice(from).map((d) => d.data), ['vip-ok']);
  await expectDelta(c0, { not_vip: 5, decap_v6: 1 });
});

test('allow-list: listed outer sources are decapsulated, others dropped and counted; re-attach keeps counters', async () => {
  const linkBefore = (await status()).link!;
  await decap('attach', REAL.dev, '--allow', RTR.v4, '--allow', 'FD00:99:0::1', '--vip', VIP4, '--vip', VIP6);
  const st = await status();
  assert.deepEqual(st.allow, [RTR.v4, RTR.v6].sort());
  assert.equal(st.link!.id, linkBefore.id, 'same link, program swapped in place');
  assert.notEqual(st.link!.progId, linkBefore.progId);
  const c0 = await counters();
  assert.ok(c0.decap_v4! > 0n, 'counters survive a re-attach');

  const denied = [udp(4, 4, 'deny-a', RTR.v4b), udp(6, 6, 'deny-b', RTR.v6b), udp(4, 6, 'deny-c', RTR.v4b)];
  const allowed = [udp(4, 4, 'ok-a'), udp(6, 4, 'ok-b')]; // last: the in-order marker
  const from = server!.got.length;
  await send('raw', [...denied, ...allowed]);
  await server!.next(from, allowed.length);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(server!.got.slice(from).map((d) => d.data).sort(), ['ok-a', 'ok-b']);
  const c1 = await expectDelta(c0, { not_allowed: 3, decap_v4: 1, decap_v6: 1 });

  // A new list replaces the old: the source added gets through, the one left out no longer.
  await decap('attach', REAL.dev, '--allow', RTR.v4b, '--allow', RTR.v6, '--vip', VIP4, '--vip', VIP6);
  assert.deepEqual((await status()).allow, [RTR.v4b, RTR.v6]);
  const f2 = server!.got.length;
  await send('raw', [udp(4, 4, 'dropped-now', RTR.v4), udp(4, 4, 'deny-a-now-ok', RTR.v4b)]);
  await server!.next(f2, 1);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(server!.got.slice(f2).map((d) => d.data), ['deny-a-now-ok']);
  await expectDelta(c1, { not_allowed: 1, decap_v4: 1 });
  await decap('attach', REAL.dev, ...ATTACH);
});

test('generic mode: re-attaching with --mode generic replaces the link and still decapsulates', async () => {
  const before = await status();
  await decap('attach', REAL.dev, ...ATTACH, '--mode', 'generic');
  const st = await status();
  assert.equal(st.mode, 'generic');
  assert.notEqual(st.link!.id, before.link!.id, 'a mode change needs a new link');
  const link = JSON.parse((await inReal(['ip', '-j', 'link', 'show', REAL.dev])).stdout) as { xdp?: { mode: number } }[];
  assert.equal(link[0]!.xdp?.mode, 2, 'ip link shows generic (skb) XDP');
  const c0 = await counters();
  const from = server!.got.length;
  await send('raw', [udp(4, 4, 'generic-a'), udp(6, 6, 'generic-b')]);
  assert.deepEqual((await server!.next(from, 2)).map((d) => d.data).sort(), ['generic-a', 'generic-b']);
  await expectDelta(c0, { decap_v4: 1, decap_v6: 1 });
});

test('detach removes the program and its pins; tunnelled packets no longer get through', async () => {
  assert.match((await decap('detach', REAL.dev)).stdout, /detached from eth0/);
  const link = JSON.parse((await inReal(['ip', '-j', 'link', 'show', REAL.dev])).stdout) as { xdp?: unknown }[];
  assert.equal(link[0]!.xdp, undefined, 'no XDP program left on the interface');
  assert.equal(existsSync(`${pinDir}/${REAL.dev}`), false);
  assert.equal((await decap('status')).stdout, 'xlvs-decap is attached to no interface\n');

  // This kernel has no ipip module: without the program the packets die in the stack. A plain
  // packet sent after them is the in-order marker.
  const from = server!.got.length;
  await send('raw', [udp(4, 4, 'after-detach-a'), udp(6, 6, 'after-detach-b')]);
  await send('plain', [{ ...udp(4, 4, 'marker'), isrc: RTR.v4 }]);
  await server!.next(from, 1);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(server!.got.slice(from).map((d) => d.data), ['marker']);
});

test('the CLI refuses bad input naming the argument, and never takes over a foreign XDP program', async () => {
  const cases: [string[], RegExp][] = [
    [['attach'], /DEV: is required/],
    [['attach', 'nosuch0', ...ATTACH], /DEV: no such interface in this network namespace \(got "nosuch0"\)/],
    // Without an allow-list or VIPs nothing would be decapsulated: attach refuses.
    [['attach', REAL.dev], /--allow: is required: the outer source addresses allowed to tunnel to this server \(the LVS routers' local_addresses\); without it nothing would be decapsulated/],
    [['attach', REAL.dev, '--vip', VIP4], /--allow: is required/],
    [['attach', REAL.dev, '--allow', RTR.v4], /--vip: is required: the VIPs this server holds on lo and serves; without it nothing would be decapsulated/],
    [['attach', REAL.dev, '--allow', RTR.v4, '--vip', ELSEWHERE.v4], /--vip: is not an address of this host: put it on lo first \(ip addr add 192\.0\.2\.77\/32 dev lo\) \(got "192\.0\.2\.77"\)/],
    [['attach', REAL.dev, '--allow', '10.99.0.256', '--vip', VIP4], /--allow: must be an IPv4 address .* \(got "10\.99\.0\.256"\)/],
    [['attach', REAL.dev, '--allow', RTR.v4, '--vip', 'vip'], /--vip: must be an IPv4 address .* \(got "vip"\)/],
    [['attach', REAL.dev, ...ATTACH, '--mode', 'offload'], /--mode: must be native or generic \(got "offload"\)/],
    [['attach', 'a/b'], /DEV: must be an interface name .* \(got "a\/b"\)/],
    [['detach', REAL.dev, 'extra'], /detach: unexpected argument \(got "extra"\)/],
    [['status', '--mode', 'native'], /--mode: does not apply to "status"/],
    [['frobnicate'], /command: unknown \(attach, detach, status\) \(got "frobnicate"\)/],
  ];
  for (const [args, re] of cases) {
    const r = await decapFails(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, re);
    assert.equal(existsSync(`${pinDir}/${REAL.dev}`), false, `${args.join(' ')} left pins`);
  }
  const notAttached = await decapFails('detach', REAL.dev);
  assert.equal(notAttached.code, 1);
  assert.match(notAttached.stderr, /DEV: xlvs-decap is not attached to "eth0"/);

  await inReal(['ip', 'link', 'set', 'dev', REAL.dev, 'xdpdrv', 'obj', PASS_OBJECT, 'sec', 'xdp']);
  try {
    const busy = await decapFails('attach', REAL.dev, ...ATTACH);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /DEV: "eth0" already runs XDP program id \d+, not attached by xlvs-decap/);
    assert.equal(existsSync(`${pinDir}/${REAL.dev}`), false, 'a refused attach leaves no pins');
  } finally {
    await inReal(['ip', 'link', 'set', 'dev', REAL.dev, 'xdpdrv', 'off']);
  }
});
