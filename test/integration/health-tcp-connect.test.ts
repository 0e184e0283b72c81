// SPDX-License-Identifier: Apache-2.0
// The plain tcp check on libuv's TCP handle (probes/tcp-connect.ts), on loopback: accepted is up
// and the connection is closed with a reset (no TIME_WAIT on the router), refused is down with
// the errno, an abort answers at once, and the fast path is really in use on this node.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { TCP_CONNECT_FAST, probeTcpConnect } from '../../src/health/probes/tcp-connect.js';

const HOSTS = ['127.0.0.1', '::1'] as const;
const never = (): AbortSignal => new AbortController().signal;

it('the fast path (tcp_wrap) is available on this node', () => {
  assert.equal(TCP_CONNECT_FAST, true);
});

for (const host of HOSTS) {
  describe(`tcp connect check on ${host}`, () => {
    it('an accepting server is up, and the probe closes with a reset', async () => {
      const seen: string[] = [];
      const server = createServer((sock: Socket) => {
        sock.on('error', (e: NodeJS.ErrnoException) => seen.push(e.code ?? e.message));
        sock.on('close', () => seen.push('close'));
      });
      server.listen(0, host);
      await once(server, 'listening');
      try {
        const r = await probeTcpConnect({ address: host, port: (server.address() as AddressInfo).port }, 1000, never());
        assert.equal(r.ok, true, r.reason);
        assert.equal(r.reason, 'connected');
        const deadline = Date.now() + 2000;
        while (!seen.includes('close') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
        assert.deepEqual(seen, ['ECONNRESET', 'close'], 'the server saw a reset, not a FIN');
      } finally {
        server.close();
      }
    });

    it('a closed port is down with ECONNREFUSED', async () => {
      const server = createServer();
      server.listen(0, host);
      await once(server, 'listening');
      const port = (server.address() as AddressInfo).port;
      server.close();
      await once(server, 'close');
      const r = await probeTcpConnect({ address: host, port }, 1000, never());
      assert.deepEqual([r.ok, r.reason], [false, 'connect ECONNREFUSED']);
    });

    it('an abort answers at once; an aborted signal before the start answers without connecting', async () => {
      const server = createServer();
      let accepted = 0;
      server.on('connection', (s: Socket) => {
        accepted++;
        s.destroy();
      });
      server.listen(0, host);
      await once(server, 'listening');
      try {
        const port = (server.address() as AddressInfo).port;
        const ac = new AbortController();
        const pending = probeTcpConnect({ address: host, port }, 5000, ac.signal);
        ac.abort();
        const r = await pending;
        assert.deepEqual([r.ok, r.reason], [false, 'aborted']);
        const pre = new AbortController();
        pre.abort();
        assert.deepEqual(await probeTcpConnect({ address: host, port }, 5000, pre.signal), { ok: false, reason: 'aborted', ms: 0 });
        assert.equal(pre.signal.aborted, true);
      } finally {
        server.close();
      }
      assert.ok(accepted <= 1, 'at most the connection already under way when aborted');
    });
  });
}

it('bad targets and timeouts are refused with the field named', async () => {
  await assert.rejects(async () => probeTcpConnect({ address: 'localhost', port: 80 }, 100, never()), /address/);
  await assert.rejects(async () => probeTcpConnect({ address: '127.0.0.1', port: 0 }, 100, never()), /port/);
  await assert.rejects(async () => probeTcpConnect({ address: '127.0.0.1', port: 80 }, 0, never()), /timeoutMs/);
});
