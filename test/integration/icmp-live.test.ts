// SPDX-License-Identifier: Apache-2.0
// ICMP through the real daemon with real traffic (issue 3): xlvsd in the lab router, the
// client's and the reals' own kernels at either end, IPv4 and IPv6 each.
//  - echo requests to the VIP are answered by XDP (the router's kernel never sees them);
//  - path MTU discovery through the router: it sends "fragmentation needed" / "packet too big"
//    when its private link is the bottleneck (client uploads, DF UDP), when its public link is
//    (the real downloads), and when a tun encapsulation would not fit;
//  - errors about a flow are translated to the other side: the real's port unreachable to the
//    client, a too-big from beyond the client to the real. The UDP services' real ports differ
//    from the VIP's, and the reals' UDP sockets are bound to one address, so an error whose
//    quote is not fully translated finds no socket and the test fails.
//
// The client and the real-side helpers are small Python programs (python3): Python's socket
// module reaches IP_MTU_DISCOVER, IP_MTU, TCP_INFO and raw ICMP, which Node does not.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Lab } from '../../lab/lab.js';
import { addLabV6, type LabV6Addresses } from '../../lab/lab-v6.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { attachDecap, holdVips, removeDecapPins } from '../../lab/method-reals.js';
import { captureStderr, waitForLine } from '../../lab/child.js';

const LOCAL4 = '10.77.0.2';
const LOCAL6 = 'fd00:77::2';
/**
 * Service ports, each on both VIPs. rs1 (nat) runs REAL_PY: sink, source and echo; nothing
 * listens on `refused`. rs2 (tun) runs REAL_PY with its sink on `tun` and its echo on `tunEcho`,
 * bound to the VIPs it holds.
 */
const PORT = { sink: 9100, refused: 9101, tun: 9102, source: 9103, echo: 9104, tunEcho: 9107 } as const;
/**
 * Real ports of the UDP services, not the VIP's: an error whose quote kept the other side's port
 * would find no socket, on the real or on the client.
 */
const REAL_PORT = { refused: 9106, echo: 9105 } as const;
/** The bottleneck link's MTU in the PMTU tests; every other link keeps 1500. */
const BOTTLENECK_MTU = 1400;
const LINK_MTU = 1500;
/** What the client says it can take in the error it forges from beyond itself. */
const FOREIGN_MTU = 1300;
const UPLOAD_BYTES = 200_000;
const DOWNLOAD_BYTES = 1_000_000;
const PINGS = 5;
/** events map indexes (enum xlvs_event in bpf/xlvs_abi.h). */
const EV = { icmp_echo: 3, icmp_xlate: 4, icmp_too_big: 5 } as const;

let lab: Lab;
let v6: LabV6Addresses;
let xlvsd: XlvsdProcess | undefined;

/**
 * The real-server side: a TCP sink (answers "<bytes> <sha256>" after the client's FIN) and a
 * TCP source (sends argv[4] pattern bytes, then closes), dual-stack; a UDP echo bound to the
 * real's own addresses argv[5] and argv[6], so an error quoting any other address or port
 * finds no socket.
 */
const REAL_PY = `
import hashlib, socket, sys, threading
sink_port, source_port, echo_port, source_bytes = (int(a) for a in sys.argv[1:5])
addr4, addr6 = sys.argv[5:7]
def bound(kind, port):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(('::', port))
    return s
def serve(port, handle):
    s = bound(socket.SOCK_STREAM, port)
    s.listen(16)
    def loop():
        while True:
            c, _ = s.accept()
            c.settimeout(20)
            try:
                handle(c)
            except OSError as e:
                print('port %d: %s' % (port, e), file=sys.stderr, flush=True)
            c.close()
    threading.Thread(target=loop, daemon=True).start()
def sink(c):
    h, n = hashlib.sha256(), 0
    while True:
        d = c.recv(65536)
        if not d:
            break
        n += len(d)
        h.update(d)
    c.sendall(('%d %s\\n' % (n, h.hexdigest())).encode())
PATTERN = bytes(i * 7 % 251 for i in range(source_bytes))
serve(sink_port, sink)
serve(source_port, lambda c: c.sendall(PATTERN))
def echo(fam, addr):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((addr, echo_port))
    def loop():
        while True:
            d, peer = s.recvfrom(2048)
            s.sendto(d, peer)
    threading.Thread(target=loop, daemon=True).start()
echo(socket.AF_INET, addr4)
echo(socket.AF_INET6, addr6)
print('READY', flush=True)
threading.Event().wait()
`;

/**
 * One TCP connection to host:port. "up": sends argv[4] pattern bytes and half-closes; "down":
 * sends nothing. Either way reads to EOF and reports what came back, and the path MTU the
 * connection ended with (tcp_info's tcpi_pmtu, byte 60: still readable after the close).
 */
const TCP_CLIENT_PY = `
import hashlib, json, socket, struct, sys
mode, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
c = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)
c.settimeout(15)
c.connect((host, port))
peer = c.getpeername()[0]
if mode == 'up':
    c.sendall(bytes(i * 7 % 251 for i in range(n)))
    c.shutdown(socket.SHUT_WR)
h, got, head = hashlib.sha256(), 0, b''
while True:
    d = c.recv(65536)
    if not d:
        break
    if got < 200:
        head += d[:200]
    got += len(d)
    h.update(d)
mtu = struct.unpack_from('I', c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104), 60)[0]
print(json.dumps({'peer': peer, 'bytes': got, 'sha256': h.hexdigest(), 'head': head.decode('latin1'), 'path_mtu': mtu}))
`;

/**
 * An error from beyond the client about a reply: a UDP echo through the VIP, then a
 * "fragmentation needed" / "packet too big" (argv[3]) from the client's address to the VIP
 * quoting that reply as the VIP sent it, through a raw socket.
 */
const FOREIGN_ERROR_PY = `
import json, socket, struct, sys
host, port, mtu = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
u = socket.socket(fam, socket.SOCK_DGRAM)
u.settimeout(3)
u.connect((host, port))
u.send(b'ping')
echo = u.recv(2048)
client, cport = u.getsockname()[:2]
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s & 0xffff) + (s >> 16)
    s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
udp = struct.pack('!HHHH', port, cport, 8 + len(echo), 0)
if fam == socket.AF_INET6:
    ip = struct.pack('!IHBB', 6 << 28, 8 + len(echo), socket.IPPROTO_UDP, 63) + socket.inet_pton(fam, host) + socket.inet_pton(fam, client)
    msg = struct.pack('!BBHI', 2, 0, 0, mtu) + ip + udp   # the kernel fills in an ICMPv6 checksum
    raw = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
else:
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 28 + len(echo), 0, 0x4000, 63, socket.IPPROTO_UDP, 0, socket.inet_aton(host), socket.inet_aton(client))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    msg = struct.pack('!BBHHH', 3, 4, 0, 0, mtu) + ip + udp
    msg = msg[:2] + struct.pack('!H', csum(msg)) + msg[4:]
    raw = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_ICMP)
raw.sendto(msg, (host, 0))
print(json.dumps({'echo': echo.decode()}))
`;

/** Connected UDP, never fragmented (IP(V6)_PMTUDISC_DO): one datagram, a pause, the same again. */
const DF_UDP_PY = `
import errno, json, socket, sys, time
host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
v6 = ':' in host
c = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
if v6:
    c.setsockopt(socket.IPPROTO_IPV6, 23, 2)   # IPV6_MTU_DISCOVER = IPV6_PMTUDISC_DO
else:
    c.setsockopt(socket.IPPROTO_IP, 10, 2)     # IP_MTU_DISCOVER = IP_PMTUDISC_DO
c.connect((host, port))
def send():
    try:
        c.send(b'x' * size)
        return 'sent'
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
first = send()
time.sleep(0.5)
second = send()
mtu = c.getsockopt(socket.IPPROTO_IPV6, 24) if v6 else c.getsockopt(socket.IPPROTO_IP, 14)
print(json.dumps({'first': first, 'second': second, 'path_mtu': mtu}))
`;

/** Connected UDP to a port nobody listens on: what recv reports once the real's error is back. */
const REFUSED_PY = `
import errno, json, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
c = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(3)
c.connect((host, port))
c.send(b'anyone there?')
try:
    c.recv(2048)
    result = 'answered'
except socket.timeout:
    result = 'timeout'
except OSError as e:
    result = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps({'result': result}))
`;

function config(): string {
  const svc = (vip: string, port: number, proto: 'tcp' | 'udp', real: string, method: 'nat' | 'tun', realPort = port): string =>
    `  - { vip: "${vip}", port: ${port}, protocol: ${proto}, reals: [{ address: "${real}", port: ${realPort}, method: ${method} }] }`;
  const family = (vip: string, reals: string[]): string[] => [
    svc(vip, PORT.sink, 'tcp', reals[0]!, 'nat'),
    svc(vip, PORT.refused, 'udp', reals[0]!, 'nat', REAL_PORT.refused),
    svc(vip, PORT.tun, 'tcp', reals[1]!, 'tun'),
    svc(vip, PORT.source, 'tcp', reals[0]!, 'nat'),
    svc(vip, PORT.echo, 'udp', reals[0]!, 'nat', REAL_PORT.echo),
    svc(vip, PORT.tunEcho, 'udp', reals[1]!, 'tun'),
  ];
  return [
    'interfaces: { public: pub0, private: priv0 }',
    `local_addresses: { v4: ${LOCAL4}, v6: "${LOCAL6}" }`,
    'services:',
    ...family(lab.addr.vip, lab.addr.reals),
    ...family(v6.vip, v6.reals),
    '',
  ].join('\n');
}

async function startReal(real: number, sinkPort: number, echoPort: number, echoAddrs: [string, string]): Promise<void> {
  const args = [...[sinkPort, PORT.source, echoPort, DOWNLOAD_BYTES].map(String), ...echoAddrs];
  const child = lab.spawn(lab.ns.reals[real]!, ['python3', '-c', REAL_PY, ...args]);
  const tail = captureStderr(child, (line) => lab.log.info({ real: real + 1, line }, 'real helper stderr'));
  await waitForLine(child, 'READY', 10_000, tail);
}

before(async () => {
  lab = await Lab.create({ reals: 2 });
  v6 = await addLabV6(lab);
  await lab.exec(lab.ns.router, ['ip', 'addr', 'add', `${LOCAL4}/24`, 'dev', lab.ifaces.private]);
  await lab.exec(lab.ns.router, ['ip', '-6', 'addr', 'add', `${LOCAL6}/64`, 'dev', lab.ifaces.private, 'nodad']);
  await holdVips(lab, 1, [lab.addr.vip, v6.vip]);
  await attachDecap(lab, 1, [LOCAL4, LOCAL6], [lab.addr.vip, v6.vip]);
  await startReal(0, PORT.sink, REAL_PORT.echo, [lab.addr.reals[0]!, v6.reals[0]!]);
  await startReal(1, PORT.tun, PORT.tunEcho, [lab.addr.vip, v6.vip]);
  xlvsd = await XlvsdProcess.start(lab, { config: config() });
});

after(async () => {
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  if (lab) removeDecapPins(lab, 1);
  await lab?.destroy();
});

/** Little-endian integer from bpftool's hex bytes (the raw key/value, whatever the BTF says). */
const hexLe = (bytes: string[]): bigint => bytes.reduceRight((acc, b) => (acc << 8n) | BigInt(b), 0n);

/** The events counters, summed over CPUs, read with bpftool from the daemon's pinned map. */
async function events(): Promise<bigint[]> {
  const { stdout } = await lab.exec(lab.ns.router, ['bpftool', '-j', 'map', 'dump', 'pinned', `${xlvsd!.pinDir}/maps/events`]);
  const entries = JSON.parse(stdout) as Array<{ key: string[]; values: Array<{ cpu: number; value: string[] }> }>;
  const sums: bigint[] = [];
  for (const e of entries) sums[Number(hexLe(e.key))] = e.values.reduce((acc, v) => acc + hexLe(v.value), 0n);
  return sums;
}

async function eventDelta<T>(ev: number, body: () => Promise<T>): Promise<{ result: T; delta: bigint }> {
  const before = (await events())[ev]!;
  const result = await body();
  return { result, delta: (await events())[ev]! - before };
}

const drops = async (): Promise<string> => JSON.stringify(await xlvsd!.api.drops(), (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x));

/**
 * The router's link MTUs for the next test; the client and the reals forget the path MTUs they
 * learned (the client's and the reals' own links stay at 1500).
 */
async function setStage(mtu: { public: number; private: number }): Promise<void> {
  await lab.exec(lab.ns.router, ['ip', 'link', 'set', 'dev', lab.ifaces.public, 'mtu', String(mtu.public)]);
  await lab.exec(lab.ns.router, ['ip', 'link', 'set', 'dev', lab.ifaces.private, 'mtu', String(mtu.private)]);
  for (const ns of [lab.ns.client, ...lab.ns.reals]) {
    await lab.exec(ns, ['ip', '-4', 'route', 'flush', 'cache']);
    await lab.exec(ns, ['ip', '-6', 'route', 'flush', 'cache']);
  }
}
const PRIVATE_BOTTLENECK = { public: LINK_MTU, private: BOTTLENECK_MTU };
const PUBLIC_BOTTLENECK = { public: BOTTLENECK_MTU, private: LINK_MTU };
const NO_BOTTLENECK = { public: LINK_MTU, private: LINK_MTU };

/** `ip route get dst` in namespace ns: the cached path MTU, undefined if there is none. */
async function routeMtu(ns: string, dst: string): Promise<number | undefined> {
  const { stdout } = await lab.exec(ns, ['ip', dst.includes(':') ? '-6' : '-4', 'route', 'get', dst]);
  const m = /\bmtu (\d+)/.exec(stdout);
  return m ? Number(m[1]) : undefined;
}

async function python<T>(ns: string, script: string, args: string[]): Promise<T> {
  const { stdout } = await lab.exec(ns, ['python3', '-c', script, ...args], { timeoutMs: 30_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}

const pattern = (n: number): Uint8Array => new Uint8Array(n).map((_, i) => (i * 7) % 251);
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

interface TcpResult {
  peer: string;
  bytes: number;
  sha256: string;
  head: string;
  path_mtu: number;
}

/** A TCP upload from the client through the VIP: the sink must report every byte, intact. */
async function upload(vip: string, port: number): Promise<TcpResult> {
  const r = await python<TcpResult>(lab.ns.client, TCP_CLIENT_PY, ['up', vip, String(port), String(UPLOAD_BYTES)]);
  assert.equal(r.peer, vip);
  assert.equal(r.head, `${UPLOAD_BYTES} ${sha256(pattern(UPLOAD_BYTES))}\n`, 'the real got all of it, intact');
  return r;
}

/** A TCP download from the real through the VIP: every byte, intact. */
async function download(vip: string, port: number): Promise<TcpResult> {
  const r = await python<TcpResult>(lab.ns.client, TCP_CLIENT_PY, ['down', vip, String(port), '0']);
  assert.equal(r.peer, vip);
  assert.equal(r.bytes, DOWNLOAD_BYTES);
  assert.equal(r.sha256, sha256(pattern(DOWNLOAD_BYTES)));
  return r;
}

/** Received-echo count of the router's own kernel (which must not see the requests at all). */
async function kernelInEchos(v: 4 | 6): Promise<number> {
  const file = v === 4 ? '/proc/net/snmp' : '/proc/net/snmp6';
  const { stdout } = await lab.exec(lab.ns.router, ['cat', file]);
  if (v === 6) return Number(/^Icmp6InEchos\s+(\d+)/m.exec(stdout)![1]);
  const [names, values] = stdout.split('\n').filter((l) => l.startsWith('Icmp:'));
  return Number(values!.split(/\s+/)[names!.split(/\s+/).indexOf('InEchos')]);
}

for (const v of [4, 6] as const) {
  const vip = (): string => (v === 4 ? lab.addr.vip : v6.vip);
  const client = (): string => (v === 4 ? lab.addr.client : v6.client);

  test(`ping the IPv${v} VIP: ${PINGS} replies from the VIP, answered by XDP (icmp_echo +${PINGS})`, async () => {
    const kernelBefore = await kernelInEchos(v);
    const { result, delta } = await eventDelta(EV.icmp_echo, () =>
      lab.exec(lab.ns.client, ['ping', `-${v}`, '-n', '-c', String(PINGS), '-i', '0.2', '-W', '2', vip()], { timeoutMs: 15_000 }));
    const replies = result.stdout.split('\n').filter((l) => /bytes from/.test(l));
    assert.equal(replies.length, PINGS, result.stdout);
    for (const l of replies) assert.ok(l.includes(` bytes from ${vip()}: icmp_seq=`), l);
    assert.equal(delta, BigInt(PINGS));
    assert.equal(await kernelInEchos(v), kernelBefore, "the router's kernel never saw a request");
  });

  test(`PMTU IPv${v}, private link ${BOTTLENECK_MTU}: a TCP upload completes and teaches the client mtu ${BOTTLENECK_MTU}`, async () => {
    await setStage(PRIVATE_BOTTLENECK);
    assert.equal(await routeMtu(lab.ns.client, vip()), undefined, 'no path MTU cached before');
    const { result, delta } = await eventDelta(EV.icmp_too_big, () => upload(vip(), PORT.sink));
    assert.ok(delta >= 1n, `router sent ${delta} too-big errors; drops ${await drops()}`);
    assert.equal(result.path_mtu, BOTTLENECK_MTU, "the connection's path MTU");
    assert.equal(await routeMtu(lab.ns.client, vip()), BOTTLENECK_MTU, "the client's route cache");
  });

  test(`PMTU IPv${v}, private link ${BOTTLENECK_MTU}: a 1450-byte never-fragment UDP datagram, then EMSGSIZE once the error is back`, async () => {
    await setStage(PRIVATE_BOTTLENECK);
    const { result, delta } = await eventDelta(EV.icmp_too_big, () =>
      python<{ first: string; second: string; path_mtu: number }>(lab.ns.client, DF_UDP_PY, [vip(), String(PORT.echo), '1450']));
    assert.deepEqual(result, { first: 'sent', second: 'EMSGSIZE', path_mtu: BOTTLENECK_MTU }, await drops());
    assert.equal(delta, 1n, 'exactly one too-big error for the one datagram that left');
  });

  test(`PMTU IPv${v}, public link ${BOTTLENECK_MTU}: a TCP download completes and teaches the real mtu ${BOTTLENECK_MTU} to the client`, async () => {
    await setStage(PUBLIC_BOTTLENECK);
    const { delta } = await eventDelta(EV.icmp_too_big, () => download(vip(), PORT.source));
    assert.ok(delta >= 1n, `router sent ${delta} too-big errors; drops ${await drops()}`);
    assert.equal(await routeMtu(lab.ns.reals[0]!, client()), BOTTLENECK_MTU, "the real's route cache");
  });

  /**
   * The forged error about an echo reply through `port` must reach the real in `realNs`: the
   * real's UDP socket takes it, and its kernel then holds FOREIGN_MTU toward the client.
   */
  async function foreignErrorReaches(port: number, realNs: string): Promise<void> {
    await setStage(NO_BOTTLENECK);
    const { result, delta } = await eventDelta(EV.icmp_xlate, () =>
      python<{ echo: string }>(lab.ns.client, FOREIGN_ERROR_PY, [vip(), String(port), String(FOREIGN_MTU)]));
    assert.equal(result.echo, 'ping');
    assert.equal(delta, 1n, `one error sent on to the real; drops ${await drops()}`);
    const deadline = Date.now() + 2000;
    while ((await routeMtu(realNs, client())) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await routeMtu(realNs, client()), FOREIGN_MTU, "the real's route cache");
  }

  test(`IPv${v}: a too-big error from beyond the client about a reply reaches the real, translated`, () =>
    foreignErrorReaches(PORT.echo, lab.ns.reals[0]!));

  test(`IPv${v}: a too-big error from beyond the client about a tun real's reply reaches that real, encapsulated`, () =>
    foreignErrorReaches(PORT.tunEcho, lab.ns.reals[1]!));

  test(`port unreachable IPv${v}: the real's error, translated, refuses the client's connected UDP socket`, async () => {
    const { result, delta } = await eventDelta(EV.icmp_xlate, () =>
      python<{ result: string }>(lab.ns.client, REFUSED_PY, [vip(), String(PORT.refused)]));
    assert.equal(result.result, 'ECONNREFUSED', await drops());
    assert.equal(delta, 1n, 'one error translated');
  });

  test(`tun IPv${v}: the encapsulated packet would exceed ${LINK_MTU}; the client learns ${LINK_MTU} minus the outer header, the upload completes`, async () => {
    await setStage(NO_BOTTLENECK);
    const outer = v === 4 ? 20 : 40;
    const { result, delta } = await eventDelta(EV.icmp_too_big, () => upload(vip(), PORT.tun));
    assert.ok(delta >= 1n, `router sent ${delta} too-big errors; drops ${await drops()}`);
    assert.equal(result.path_mtu, LINK_MTU - outer, "the connection's path MTU");
    assert.equal(await routeMtu(lab.ns.client, vip()), LINK_MTU - outer, "the client's route cache");
  });
}
