// SPDX-License-Identifier: Apache-2.0
// The tcp and udp health probes (src/health/probes) against real servers on loopback (127.0.0.1
// and ::1, ports chosen by the OS) that each test starts and stops itself: up/down, send/expect
// match and mismatch, regex, `*`, a server that never answers, ICMP port unreachable, noReply,
// and aborting through the signal. Every wait is bounded by the probe's own timeout.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { InvalidArgumentError } from '../../src/errors.js';
import type { ProbeResult } from '../../src/health/probes/index.js';
import { TCP_MAX_REPLY_BYTES, probeTcp } from '../../src/health/probes/tcp.js';
import { probeUdp, UnreachableLog, UNREACHABLE_WINDOW_MS, type UdpMemory } from '../../src/health/probes/udp.js';

const HOSTS = ['127.0.0.1', '::1'] as const;
const never = (): AbortSignal => new AbortController().signal;

interface TcpServer {
  readonly port: number;
  readonly closedConnections: () => number;
  stop(): Promise<void>;
}

/** A TCP server on loopback whose connections get `handler`; stop() ends them all. */
async function tcpServer(host: string, handler: (sock: Socket) => void): Promise<TcpServer> {
  const conns = new Set<Socket>();
  let closed = 0;
  const server: Server = createServer((sock) => {
    conns.add(sock);
    sock.on('error', () => { /* the probe resetting its side is expected here */ });
    sock.on('close', () => { conns.delete(sock); closed++; });
    handler(sock);
  });
  server.listen(0, host);
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    closedConnections: () => closed,
    async stop() {
      for (const c of conns) c.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** A port that was just free on `host`: a server is bound to it, then closed. */
async function closedTcpPort(host: string): Promise<number> {
  const s = await tcpServer(host, () => {});
  await s.stop();
  return s.port;
}

async function udpServer(host: string, onMessage: (sock: UdpSocket, msg: Buffer, port: number, address: string) => void): Promise<{ port: number; stop(): Promise<void> }> {
  const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  sock.on('message', (msg, rinfo) => onMessage(sock, msg, rinfo.port, rinfo.address));
  sock.bind(0, host);
  await once(sock, 'listening');
  return {
    port: sock.address().port,
    async stop() {
      sock.close();
      await once(sock, 'close');
    },
  };
}

async function closedUdpPort(host: string): Promise<number> {
  const s = await udpServer(host, () => {});
  await s.stop();
  return s.port;
}

/** Answers each line with a fixed reply, then keeps or closes the connection. */
function lineServer(reply: string, closeAfter: boolean) {
  return (sock: Socket) => {
    sock.on('data', () => {
      if (closeAfter) sock.end(reply);
      else sock.write(reply);
    });
  };
}

function assertResult(r: ProbeResult, ok: boolean, reason: string | RegExp): void {
  assert.equal(r.ok, ok, `ok: ${JSON.stringify(r)}`);
  if (typeof reason === 'string') assert.equal(r.reason, reason);
  else assert.match(r.reason, reason);
  assert.ok(Number.isFinite(r.ms) && r.ms >= 0, `ms: ${r.ms}`);
  // A timeout is marked as one (the per-real probes_timed_out counter); an answer never is.
  assert.equal(r.timedOut, !r.ok && /^(timeout after|no reply within)/.test(r.reason) ? true : undefined, `timedOut: ${JSON.stringify(r)}`);
}

for (const host of HOSTS) {
  describe(`tcp probe on ${host}`, () => {
    const servers: TcpServer[] = [];
    after(async () => { for (const s of servers) await s.stop(); });
    const start = async (h: (sock: Socket) => void) => {
      const s = await tcpServer(host, h);
      servers.push(s);
      return s;
    };

    it('is up when the server accepts, and ECONNREFUSED once it is closed', async () => {
      const s = await tcpServer(host, () => {});
      assertResult(await probeTcp({ address: host, port: s.port }, { timeoutMs: 1000 }, never()), true, 'connected');
      await s.stop();
      assertResult(await probeTcp({ address: host, port: s.port }, { timeoutMs: 1000 }, never()), false, 'connect ECONNREFUSED');
    });

    it('send/expect: a literal, a regex and * match the reply', async () => {
      const s = await start(lineServer('+PONG ready\r\n', false));
      const target = { address: host, port: s.port };
      assertResult(await probeTcp(target, { timeoutMs: 1000, send: 'PING\\r\\n', expect: '+PONG' }, never()), true, 'reply matched +PONG');
      assertResult(await probeTcp(target, { timeoutMs: 1000, send: 'PING\\r\\n', expect: '/^\\+pong\\s+READY\\r\\n$/i' }, never()), true, 'reply matched /^\\+pong\\s+READY\\r\\n$/i');
      assertResult(await probeTcp(target, { timeoutMs: 1000, send: 'PING\\r\\n', expect: '*' }, never()), true, 'reply matched *');
      // Sending without expecting anything only needs the write to go out.
      assertResult(await probeTcp(target, { timeoutMs: 1000, send: 'PING\\r\\n' }, never()), true, 'connected and sent');
    });

    it('expect without send reads a banner', async () => {
      const s = await start((sock) => sock.write('220 mail ready\r\n'));
      assertResult(await probeTcp({ address: host, port: s.port }, { timeoutMs: 1000, expect: '/^220 /' }, never()), true, 'reply matched /^220 /');
    });

    it('a mismatching reply fails with what came back, when the server closes', async () => {
      const s = await start(lineServer('-ERR busy\r\n', true));
      const r = await probeTcp({ address: host, port: s.port }, { timeoutMs: 1000, send: 'PING\\n', expect: '/^\\+PONG/' }, never());
      assertResult(r, false, 'connection closed: reply did not match /^\\+PONG/ (got "-ERR busy\\r\\n", 11 bytes)');
      assert.ok(r.ms < 1000, `closed early, not at the timeout: ${r.ms} ms`);
    });

    it('a mismatching reply on a connection left open fails at the timeout, quoting the reply', async () => {
      const s = await start(lineServer('-ERR busy\r\n', false));
      const r = await probeTcp({ address: host, port: s.port }, { timeoutMs: 200, send: 'PING\\n', expect: 'PONG' }, never());
      assertResult(r, false, 'timeout after 200 ms waiting for a reply: reply did not match "PONG" (got "-ERR busy\\r\\n", 11 bytes)');
      assert.ok(r.ms >= 195 && r.ms < 1000, `${r.ms} ms`);
    });

    it(`stops reading after ${TCP_MAX_REPLY_BYTES} bytes without a match`, async () => {
      const s = await start((sock) => sock.write('x'.repeat(TCP_MAX_REPLY_BYTES * 2)));
      const r = await probeTcp({ address: host, port: s.port }, { timeoutMs: 2000, expect: 'never-there' }, never());
      assertResult(r, false, new RegExp(`^reply did not match "never-there" \\(got "x{80}…", ${TCP_MAX_REPLY_BYTES} bytes\\) within ${TCP_MAX_REPLY_BYTES} bytes$`));
      assert.ok(r.ms < 2000, `${r.ms} ms`);
    });

    it('a server that accepts but never answers is a timeout within opts, and the socket is closed', async () => {
      // It reads (so that it sees the probe's close) and never writes.
      const s = await start((sock) => sock.resume());
      const r = await probeTcp({ address: host, port: s.port }, { timeoutMs: 200, send: 'HELLO\\n', expect: '*' }, never());
      assertResult(r, false, 'timeout after 200 ms waiting for a reply');
      assert.ok(r.ms >= 195 && r.ms < 1000, `${r.ms} ms`);
      const deadline = Date.now() + 2000;
      while (s.closedConnections() < 1 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
      assert.equal(s.closedConnections(), 1, 'the probe closed its connection');
    });

    it('abort through the signal returns at once and closes the socket', async () => {
      const s = await start((sock) => sock.resume());
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      const r = await probeTcp({ address: host, port: s.port }, { timeoutMs: 10_000, send: 'x', expect: '*' }, ac.signal);
      assertResult(r, false, 'aborted');
      assert.ok(r.ms >= 45 && r.ms < 500, `${r.ms} ms`);
      const deadline = Date.now() + 2000;
      while (s.closedConnections() < 1 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
      assert.equal(s.closedConnections(), 1, 'the probe closed its connection');
      const pre = await probeTcp({ address: host, port: s.port }, { timeoutMs: 10_000 }, AbortSignal.abort());
      assertResult(pre, false, 'aborted');
      assert.ok(pre.ms < 50, `${pre.ms} ms`);
    });
  });

  describe(`udp probe on ${host}`, () => {
    const stops: (() => Promise<void>)[] = [];
    after(async () => { for (const stop of stops) await stop(); });

    it('a reply matching a literal, a regex or * is up; a different reply is down', async () => {
      const s = await udpServer(host, (sock, msg, port, address) => {
        if (msg.toString() === 'PING\n') sock.send('PONG 42', port, address);
        else sock.send('WHAT?', port, address);
      });
      stops.push(s.stop);
      const target = { address: host, port: s.port };
      assertResult(await probeUdp(target, { timeoutMs: 1000, send: 'PING\\n', expect: 'PONG' }, never()), true, 'reply matched PONG');
      assertResult(await probeUdp(target, { timeoutMs: 1000, send: 'PING\\n', expect: '/^pong \\d+$/i' }, never()), true, 'reply matched /^pong \\d+$/i');
      assertResult(await probeUdp(target, { timeoutMs: 1000, send: 'PING\\n' }, never()), true, 'reply matched *');
      assertResult(await probeUdp(target, { timeoutMs: 1000, send: 'HELLO', expect: 'PONG' }, never()), false, 'reply did not match "PONG" (got "WHAT?", 5 bytes)');
    });

    it('a closed port is down through the ICMP port unreachable, with or without noReply', async () => {
      const port = await closedUdpPort(host);
      const r = await probeUdp({ address: host, port }, { timeoutMs: 2000, send: 'PING', expect: '*' }, never());
      assertResult(r, false, 'port unreachable (ECONNREFUSED)');
      assert.ok(r.ms < 2000, `before the timeout: ${r.ms} ms`);
      const q = await probeUdp({ address: host, port }, { timeoutMs: 2000, send: 'PING', noReply: true }, never());
      assertResult(q, false, 'port unreachable (ECONNREFUSED)');
      assert.ok(q.ms < 2000, `before the timeout: ${q.ms} ms`);
    });

    it('noReply: a silent server is up at the timeout; a required reply from it is a timeout', async () => {
      let received = 0;
      const s = await udpServer(host, () => { received++; });
      stops.push(s.stop);
      const r = await probeUdp({ address: host, port: s.port }, { timeoutMs: 200, send: 'PING', noReply: true }, never());
      assertResult(r, true, 'no reply and no port unreachable within 200 ms');
      assert.ok(r.ms >= 195 && r.ms < 1000, `${r.ms} ms`);
      assert.equal(received, 1, 'the server got the payload');
      const t = await probeUdp({ address: host, port: s.port }, { timeoutMs: 200, send: 'PING', expect: '*' }, never());
      assertResult(t, false, 'timeout after 200 ms waiting for a reply');
    });

    it('noReply: silence soon after a port unreachable from the same address proves nothing; after the window it does', async () => {
      // The real's kernel rate-limits ICMP errors per destination: after one from this address
      // (another port, closed), silence from it may be a suppressed unreachable.
      let now = 0;
      const memory: UdpMemory = { unreachable: new UnreachableLog(() => now) };
      const closed = await closedUdpPort(host);
      const s = await udpServer(host, () => {});
      stops.push(s.stop);
      const silent = { address: host, port: s.port };
      const opts = { timeoutMs: 200, send: 'PING', noReply: true };
      // a silence with no unreachable around is health, and becomes the check's verdict
      assertResult(await probeUdp(silent, opts, never(), memory), true, 'no reply and no port unreachable within 200 ms');
      const other: UdpMemory = { unreachable: memory.unreachable };
      assertResult(await probeUdp({ address: host, port: closed }, opts, never(), other), false, 'port unreachable (ECONNREFUSED)');
      now += 500;
      assertResult(await probeUdp(silent, opts, never(), memory), true,
        `no reply within 200 ms, but ${host} answered port unreachable 500 ms ago and rate-limits those: inconclusive; as before: no reply and no port unreachable within 200 ms`);
      // the closed port's own check: silence keeps it failing, it does not come up
      assertResult(await probeUdp(silent, opts, never(), other), false,
        `no reply within 200 ms, but ${host} answered port unreachable 500 ms ago and rate-limits those: inconclusive; as before: port unreachable (ECONNREFUSED)`);
      assertResult(await probeUdp(silent, opts, never(), { unreachable: memory.unreachable }), false,
        `no reply within 200 ms, but ${host} answered port unreachable 500 ms ago and rate-limits those: inconclusive; no verdict yet, so failing`);
      now += UNREACHABLE_WINDOW_MS;
      assertResult(await probeUdp(silent, opts, never(), other), true, 'no reply and no port unreachable within 200 ms');
    });

    it('abort through the signal returns at once', async () => {
      const s = await udpServer(host, () => {});
      stops.push(s.stop);
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      const r = await probeUdp({ address: host, port: s.port }, { timeoutMs: 10_000, send: 'PING' }, ac.signal);
      assertResult(r, false, 'aborted');
      assert.ok(r.ms >= 45 && r.ms < 500, `${r.ms} ms`);
    });
  });
}

describe('probe options', () => {
  it('bad options throw InvalidArgumentError naming the field and value; nothing is sent', async () => {
    const t = { address: '127.0.0.1', port: 9 };
    const cases: [() => Promise<unknown>, string, unknown][] = [
      [() => probeTcp({ address: 'localhost', port: 80 }, { timeoutMs: 100 }, never()), 'address', 'localhost'],
      [() => probeTcp({ address: '127.0.0.1', port: 0 }, { timeoutMs: 100 }, never()), 'port', 0],
      [() => probeTcp(t, { timeoutMs: 0 }, never()), 'timeoutMs', 0],
      [() => probeTcp(t, { timeoutMs: 100, send: 'a\\qb' }, never()), 'send', 'a\\qb'],
      [() => probeTcp(t, { timeoutMs: 100, expect: '/x/g' }, never()), 'expect', '/x/g'],
      [() => probeUdp({ address: '::1', port: 70000 }, { timeoutMs: 100 }, never()), 'port', 70000],
      [() => probeUdp(t, { timeoutMs: 100, noReply: true, expect: 'x' }, never()), 'expect', 'x'],
      [() => probeUdp(t, { timeoutMs: 1.5 }, never()), 'timeoutMs', 1.5],
    ];
    for (const [run, field, value] of cases) {
      await assert.rejects(run, (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError, String(err));
        assert.equal(err.field, field);
        assert.deepEqual(err.value, value);
        return true;
      });
    }
  });
});
