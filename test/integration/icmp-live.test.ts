// SPDX-License-Identifier: Apache-2.0
// ICMP through the real daemon with real traffic (issue 3): xlvsd in the lab router, the
// client's kernel and the reals' kernels on either side. Echo to the VIP answered by XDP; path
// MTU discovery through the router (it sends "fragmentation needed" / "packet too big" when the
// private link is the bottleneck, and when a tun encapsulation would not fit); port
// unreachable from a real translated back to the client. IPv4 and IPv6 each.
//
// The client and the real-side helpers are small Python programs (run with python3): Python's
// socket module reaches IP_MTU_DISCOVER / IP_MTU, which Node does not expose.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Lab } from '../../src/lab/lab.js';
import { addLabV6, type LabV6Addresses } from '../../src/lab/lab-v6.js';
import { XlvsdProcess } from '../../src/lab/xlvsd-process.js';
import { attachDecap, holdVips, removeDecapPins } from '../../src/lab/method-reals.js';
import { captureStderr, waitForLine } from '../../src/lab/child.js';

const LOCAL4 = '10.77.0.2';
const LOCAL6 = 'fd00:77::2';
/** rs1 (nat) sinks TCP on SINK; nothing listens on UDP there. rs2 (tun) sinks TCP on TUN. */
const PORT = { sink: 9100, udp: 9101, tun: 9102 } as const;
/** The router's private link in the PMTU tests: smaller than the client's and the reals' 1500. */
const BOTTLENECK_MTU = 1400;
const LINK_MTU = 1500;
const TRANSFER_BYTES = 200_000;
const PINGS = 5;
/** events map indexes (enum xlvs_event in bpf/xlvs_abi.h). */
const EV = { icmp_echo: 3, icmp_xlate: 4, icmp_too_big: 5 } as const;

let lab: Lab;
let v6: LabV6Addresses;
let xlvsd: XlvsdProcess | undefined;

const SINK_PY = `
import hashlib, socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(('::', int(sys.argv[1])))
s.listen(16)
print('READY', flush=True)
while True:
    c, _ = s.accept()
    c.settimeout(20)
    h, n = hashlib.sha256(), 0
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            n += len(d)
            h.update(d)
        c.sendall(('%d %s\\n' % (n, h.hexdigest())).encode())
    except OSError as e:
        print('sink error after %d bytes: %s' % (n, e), file=sys.stderr, flush=True)
    c.close()
`;

/**
 * Sends argv[3] pattern bytes over TCP, half-closes, prints the sink's answer and the path MTU
 * the connection ended with (tcp_info's tcpi_pmtu, at byte 60: readable after the close too).
 */
const SEND_PY = `
import json, socket, struct, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
c = socket.socket(fam, socket.SOCK_STREAM)
c.settimeout(15)
c.connect((host, port))
peer = c.getpeername()[0]
c.sendall(bytes(i * 7 % 251 for i in range(n)))
c.shutdown(socket.SHUT_WR)
reply = b''
while not reply.endswith(b'\\n'):
    d = c.recv(4096)
    if not d:
        break
    reply += d
mtu = struct.unpack_from('I', c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104), 60)[0]
print(json.dumps({'reply': reply.decode().strip(), 'path_mtu': mtu, 'peer': peer}))
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
  const svc = (vip: string, port: number, proto: 'tcp' | 'udp', real: string, method: 'nat' | 'tun'): string =>
    `  - { vip: "${vip}", port: ${port}, protocol: ${proto}, reals: [{ address: "${real}", method: ${method} }] }`;
  const family = (vip: string, reals: string[]): string[] => [
    svc(vip, PORT.sink, 'tcp', reals[0]!, 'nat'),
    svc(vip, PORT.udp, 'udp', reals[0]!, 'nat'),
    svc(vip, PORT.tun, 'tcp', reals[1]!, 'tun'),
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

async function startSink(real: number, port: number): Promise<void> {
  const child = lab.spawn(lab.ns.reals[real]!, ['python3', '-c', SINK_PY, String(port)]);
  const tail = captureStderr(child, (line) => lab.log.info({ real: real + 1, line }, 'sink stderr'));
  await waitForLine(child, 'READY', 10_000, tail);
}

before(async () => {
  lab = await Lab.create({ reals: 2 });
  v6 = await addLabV6(lab);
  await lab.exec(lab.ns.router, ['ip', 'addr', 'add', `${LOCAL4}/24`, 'dev', lab.ifaces.private]);
  await lab.exec(lab.ns.router, ['ip', '-6', 'addr', 'add', `${LOCAL6}/64`, 'dev', lab.ifaces.private, 'nodad']);
  await holdVips(lab, 1, [lab.addr.vip, v6.vip]);
  await attachDecap(lab, 1, [LOCAL4, LOCAL6]);
  await startSink(0, PORT.sink);
  await startSink(1, PORT.tun);
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

/** The router's private link MTU; the client forgets the path MTUs it learned. */
async function setStage(privateMtu: number): Promise<void> {
  await lab.exec(lab.ns.router, ['ip', 'link', 'set', 'dev', lab.ifaces.private, 'mtu', String(privateMtu)]);
  await lab.exec(lab.ns.client, ['ip', '-4', 'route', 'flush', 'cache']);
  await lab.exec(lab.ns.client, ['ip', '-6', 'route', 'flush', 'cache']);
}

/** `ip route get` in the client: the cached path MTU toward `dst`, undefined if none. */
async function clientRouteMtu(dst: string): Promise<number | undefined> {
  const { stdout } = await lab.exec(lab.ns.client, ['ip', dst.includes(':') ? '-6' : '-4', 'route', 'get', dst]);
  const m = /\bmtu (\d+)/.exec(stdout);
  return m ? Number(m[1]) : undefined;
}

async function python<T>(ns: string, script: string, args: string[]): Promise<T> {
  const { stdout } = await lab.exec(ns, ['python3', '-c', script, ...args], { timeoutMs: 30_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}

/** A TCP upload from the client through the VIP; the sink must have got every byte intact. */
async function upload(vip: string, port: number): Promise<{ path_mtu: number }> {
  const r = await python<{ reply: string; path_mtu: number; peer: string }>(lab.ns.client, SEND_PY, [vip, String(port), String(TRANSFER_BYTES)]);
  const sent = new Uint8Array(TRANSFER_BYTES).map((_, i) => (i * 7) % 251);
  assert.equal(r.peer, vip);
  assert.equal(r.reply, `${TRANSFER_BYTES} ${createHash('sha256').update(sent).digest('hex')}`, 'the real got all of it, intact');
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

  test(`ping the IPv${v} VIP: ${PINGS} replies from the VIP, answered by XDP (icmp_echo +${PINGS})`, async () => {
    const kernelBefore = await kernelInEchos(v);
    const { result, delta } = await eventDelta(EV.icmp_echo, () =>
      lab.exec(lab.ns.client, ['ping', `-${v}`, '-n', '-c', String(PINGS), '-i', '0.2', '-W', '2', vip()], { timeoutMs: 15_000 }));
    const replies = result.stdout.split('\n').filter((l) => /bytes from/.test(l));
    assert.equal(replies.length, PINGS, result.stdout);
    for (const l of replies) assert.match(l, new RegExp(`bytes from ${vip().replace(/\./g, '\\.')}: icmp_seq=`));
    assert.equal(delta, BigInt(PINGS));
    assert.equal(await kernelInEchos(v), kernelBefore, "the router's kernel never saw a request");
  });

  test(`PMTU IPv${v}: the private link is the bottleneck; a TCP upload teaches the client mtu ${BOTTLENECK_MTU}`, async () => {
    await setStage(BOTTLENECK_MTU);
    assert.equal(await clientRouteMtu(vip()), undefined, 'no path MTU cached before');
    const { result, delta } = await eventDelta(EV.icmp_too_big, () => upload(vip(), PORT.sink));
    assert.ok(delta >= 1n, `router sent ${delta} too-big errors; drops ${await drops()}`);
    assert.equal(result.path_mtu, BOTTLENECK_MTU, "the socket's path MTU");
    assert.equal(await clientRouteMtu(vip()), BOTTLENECK_MTU, "the client's route cache");
  });

  test(`PMTU IPv${v}: a 1450-byte never-fragment UDP datagram, then EMSGSIZE once the error is back`, async () => {
    await setStage(BOTTLENECK_MTU);
    const { result, delta } = await eventDelta(EV.icmp_too_big, () =>
      python<{ first: string; second: string; path_mtu: number }>(lab.ns.client, DF_UDP_PY, [vip(), String(PORT.udp), '1450']));
    assert.deepEqual(result, { first: 'sent', second: 'EMSGSIZE', path_mtu: BOTTLENECK_MTU }, await drops());
    assert.equal(delta, 1n, 'exactly one too-big error for the one datagram that left');
  });

  test(`port unreachable IPv${v}: the real's error, translated, refuses the client's connected UDP socket`, async () => {
    const { result, delta } = await eventDelta(EV.icmp_xlate, () =>
      python<{ result: string }>(lab.ns.client, REFUSED_PY, [vip(), String(PORT.udp)]));
    assert.equal(result.result, 'ECONNREFUSED', await drops());
    assert.equal(delta, 1n, 'one error translated');
  });

  test(`tun IPv${v}: the encapsulation would exceed ${LINK_MTU}; the client learns ${LINK_MTU} - the outer header and the upload completes`, async () => {
    await setStage(LINK_MTU);
    const outer = v === 4 ? 20 : 40;
    const { result, delta } = await eventDelta(EV.icmp_too_big, () => upload(vip(), PORT.tun));
    assert.ok(delta >= 1n, `router sent ${delta} too-big errors; drops ${await drops()}`);
    assert.equal(result.path_mtu, LINK_MTU - outer);
    assert.equal(await clientRouteMtu(vip()), LINK_MTU - outer);
  });
}
