// SPDX-License-Identifier: Apache-2.0
// The http/https health probe (src/health/probes/http.ts) against real servers on loopback
// (127.0.0.1 and ::1, ports chosen by the OS) that the tests start and stop themselves: status
// lists and ranges, HEAD, the Host header and path the server saw, body expect, sha256/md5
// digests, maxBodyBytes, timeouts in each phase, abort, and https with a self-signed certificate
// made here by openssl in a temporary directory: verification failures, verify: false, a ca file,
// and the SNI the server saw. Every wait is bounded by the probe's own timeout or a deadline.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, type Server, type Socket, createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProbeResult } from '../../src/health/probes/index.js';
import { type HttpProbeOptions, probeHttp, planHttp } from '../../src/health/probes/http.js';

const HOSTS = ['127.0.0.1', '::1'] as const;
const never = (): AbortSignal => new AbortController().signal;
const CONTENT = 'version 42\nservice ok\n';
const BIG = 2000;

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly host: string | undefined;
  readonly connection: string | undefined;
}

interface TestServer {
  readonly port: number;
  readonly seen: Seen[];
  /** TLS servers: the SNI of each handshake, '' when none was sent. */
  readonly sni: string[];
  readonly connections: () => number;
  readonly closed: () => number;
  /** Ends every connection the server still holds (a /hang request). */
  readonly destroyAll: () => void;
  stop(): Promise<void>;
}

/** Answers by path; /hang never answers, /slow-body sends headers and part of the body only. */
function route(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  switch (path) {
    case '/down':
      res.writeHead(503, { 'Content-Type': 'text/plain' }).end('busy\n');
      return;
    case '/moved':
      res.writeHead(301, { Location: '/elsewhere' }).end();
      return;
    case '/teapot':
      res.writeHead(418).end();
      return;
    case '/big':
      res.writeHead(200, { 'Content-Length': String(BIG) }).end('x'.repeat(BIG));
      return;
    case '/big-chunked':
      // No Content-Length: the limit must hold while streaming, not only on the header.
      res.writeHead(200);
      for (let i = 0; i < BIG / 100; i++) res.write('y'.repeat(100));
      res.end();
      return;
    case '/hang':
      return;
    case '/slow-body':
      res.writeHead(200, { 'Content-Length': '1000' });
      res.write('partial');
      return;
    case '/drop':
      req.socket.destroy();
      return;
    default:
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end(CONTENT);
  }
}

function track(server: Server, seen: Seen[], sni: string[]): Omit<TestServer, 'port' | 'stop'> {
  const conns = new Set<Socket>();
  let opened = 0;
  let closed = 0;
  const onSocket = (sock: Socket): void => {
    opened++;
    conns.add(sock);
    sni.push(''); // replaced by the TLS server's SNICallback when the ClientHello names a server
    sock.on('error', () => { /* the probe resetting its side is expected here */ });
    sock.on('close', () => { conns.delete(sock); closed++; });
  };
  server.on('connection', onSocket);
  server.on('request', (req: IncomingMessage) => seen.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host, connection: req.headers.connection }));
  return { seen, sni, connections: () => opened, closed: () => closed, destroyAll: () => { for (const c of conns) c.destroy(); } };
}

async function listen(server: Server, host: string, extra: Omit<TestServer, 'port' | 'stop'>): Promise<TestServer> {
  server.listen(0, host);
  await once(server, 'listening');
  return {
    ...extra,
    port: (server.address() as AddressInfo).port,
    async stop() {
      const closing = once(server, 'close');
      server.close();
      extra.destroyAll();
      await closing;
    },
  };
}

async function httpServer(host: string): Promise<TestServer> {
  const server = createHttpServer(route);
  return listen(server, host, track(server, [], []));
}

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!cond() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
  assert.ok(cond(), what);
}

function assertResult(r: ProbeResult, ok: boolean, reason: string | RegExp): void {
  assert.equal(r.ok, ok, `ok: ${JSON.stringify(r)}`);
  if (typeof reason === 'string') assert.equal(r.reason, reason);
  else assert.match(r.reason, reason);
  assert.ok(Number.isFinite(r.ms) && r.ms >= 0, `ms: ${r.ms}`);
  // A timeout is marked as one (the per-real probes_timed_out counter); an answer never is.
  assert.equal(r.timedOut, !r.ok && /^(timeout after|no reply within)/.test(r.reason) ? true : undefined, `timedOut: ${JSON.stringify(r)}`);
}

const digest = (alg: 'sha256' | 'md5', text: string): string => createHash(alg).update(text).digest('hex');
const bracket = (host: string): string => (host.includes(':') ? `[${host}]` : host);

for (const host of HOSTS) {
  describe(`http probe on ${host}`, () => {
    let s: TestServer;
    before(async () => { s = await httpServer(host); });
    after(async () => { await s.stop(); });
    const probe = (opts: Omit<HttpProbeOptions, 'timeoutMs'> & { timeoutMs?: number }, signal = never()) =>
      probeHttp({ address: host, port: s.port }, { timeoutMs: 1000, ...opts }, signal);

    it('200 is up and 503 is down with the status named; one fresh connection each, Connection: close', async () => {
      const before = s.connections();
      assertResult(await probe({}), true, 'status 200');
      assertResult(await probe({ path: '/down' }), false, 'status 503 not in 200-299');
      assert.equal(s.connections() - before, 2, 'one connection per probe');
      assert.deepEqual(s.seen.slice(-2).map((x) => [x.method, x.url, x.connection]), [['GET', '/', 'close'], ['GET', '/down', 'close']]);
      await waitFor('the probe closed both connections', () => s.closed() >= before + 2);
    });

    it('custom status lists and ranges; a 301 is a status, not followed', async () => {
      assertResult(await probe({ path: '/down', status: [200, 503] }), true, 'status 503');
      const n = s.seen.length;
      assertResult(await probe({ path: '/moved' }), false, 'status 301 not in 200-299');
      assertResult(await probe({ path: '/moved', status: ['300-399'] }), true, 'status 301');
      assert.deepEqual(s.seen.slice(n).map((x) => x.url), ['/moved', '/moved'], 'the Location was never requested');
      assertResult(await probe({ path: '/teapot', status: ['200-299', '500-599'] }), false, 'status 418 not in 200-299, 500-599');
      assertResult(await probe({ path: '/teapot', status: 418 }), true, 'status 418');
    });

    it('HEAD reaches the server as HEAD', async () => {
      assertResult(await probe({ method: 'HEAD', path: '/ok' }), true, 'status 200');
      assert.deepEqual(s.seen.at(-1), { method: 'HEAD', url: '/ok', host: `${bracket(host)}:${s.port}`, connection: 'close' });
      assertResult(await probe({ method: 'POST', path: '/down', status: [503] }), true, 'status 503');
      assert.equal(s.seen.at(-1)?.method, 'POST');
    });

    it('the Host header and path reach the server as configured, and the default Host is the target', async () => {
      assertResult(await probe({ host: 'www.real.test:8080', path: '/ok?probe=1&x=%20' }), true, 'status 200');
      assert.deepEqual(s.seen.at(-1), { method: 'GET', url: '/ok?probe=1&x=%20', host: 'www.real.test:8080', connection: 'close' });
      assertResult(await probe({ path: '/' }), true, 'status 200');
      assert.equal(s.seen.at(-1)?.host, `${bracket(host)}:${s.port}`);
    });

    it('body: a regex or literal that matches is up; a mismatch quotes the body', async () => {
      assertResult(await probe({ body: '/^service ok$/m' }), true, 'status 200, body matched /^service ok$/m');
      assertResult(await probe({ body: 'version 42' }), true, 'status 200, body matched version 42');
      assertResult(await probe({ body: '/^healthy/' }), false, 'body did not match /^healthy/ (got "version 42\\nservice ok\\n")');
      assertResult(await probe({ body: 'version 43' }), false, 'body did not match "version 43" (got "version 42\\nservice ok\\n")');
      // The status is judged first: a 503 with the right body is still down.
      assertResult(await probe({ path: '/down', body: 'busy' }), false, 'status 503 not in 200-299');
    });

    it('digest: sha256 and md5 of the body must match; stale content fails naming both digests', async () => {
      const sha = digest('sha256', CONTENT);
      const md5 = digest('md5', CONTENT);
      assertResult(await probe({ digest: `sha256:${sha.toUpperCase()}` }), true, 'status 200, sha256 matched');
      assertResult(await probe({ digest: `md5:${md5}`, body: 'service ok' }), true, 'status 200, body matched service ok, md5 matched');
      const stale = digest('sha256', 'version 41\nservice ok\n');
      assertResult(await probe({ digest: `sha256:${stale}` }), false, `body sha256 ${sha} != ${stale}`);
      const staleMd5 = digest('md5', 'old');
      assertResult(await probe({ digest: `md5:${staleMd5}` }), false, `body md5 ${md5} != ${staleMd5}`);
    });

    it('maxBodyBytes: a longer body fails, by Content-Length or while streaming', async () => {
      assertResult(await probe({ path: '/big', body: '*', maxBodyBytes: BIG - 1 }), false, `body longer than ${BIG - 1} bytes`);
      assertResult(await probe({ path: '/big-chunked', body: '*', maxBodyBytes: BIG - 1 }), false, `body longer than ${BIG - 1} bytes`);
      assertResult(await probe({ path: '/big-chunked', digest: `sha256:${digest('sha256', 'y'.repeat(BIG))}`, maxBodyBytes: BIG }), true, 'status 200, sha256 matched');
      assertResult(await probe({ path: '/big', body: '/^x+$/', maxBodyBytes: BIG }), true, 'status 200, body matched /^x+$/');
      // Without a body check the body is not read, so its size does not matter.
      assertResult(await probe({ path: '/big', maxBodyBytes: 10 }), true, 'status 200');
    });

    it('a closed port is connect ECONNREFUSED; a server closing before answering is named', async () => {
      const other = await httpServer(host);
      const port = other.port;
      await other.stop();
      const r = await probeHttp({ address: host, port }, { timeoutMs: 2000 }, never());
      assertResult(r, false, 'connect ECONNREFUSED');
      assert.ok(r.ms < 2000, `${r.ms} ms`);
      assertResult(await probe({ path: '/drop' }), false, 'connection closed before the response');
    });

    it('a server that accepts and never answers is a timeout within opts, and the connection is closed', async () => {
      const before = s.closed();
      const r = await probe({ path: '/hang', timeoutMs: 200 });
      assertResult(r, false, 'timeout after 200 ms waiting for the response');
      assert.ok(r.ms >= 195 && r.ms < 1000, `${r.ms} ms`);
      await waitFor('the probe closed its connection', () => s.closed() > before);
      const b = await probe({ path: '/slow-body', body: '*', timeoutMs: 200 });
      assertResult(b, false, 'timeout after 200 ms reading body');
      assert.ok(b.ms >= 195 && b.ms < 1000, `${b.ms} ms`);
    });

    it('abort through the signal returns at once and closes the connection', async () => {
      const before = s.closed();
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      const r = await probe({ path: '/hang', timeoutMs: 10_000 }, ac.signal);
      assertResult(r, false, 'aborted');
      assert.ok(r.ms >= 45 && r.ms < 500, `${r.ms} ms`);
      await waitFor('the probe closed its connection', () => s.closed() > before);
      const pre = await probe({ timeoutMs: 10_000 }, AbortSignal.abort());
      assertResult(pre, false, 'aborted');
      assert.ok(pre.ms < 50, `${pre.ms} ms`);
    });
  });
}

describe('https probe', () => {
  let dir: string;
  let caPath: string;
  const servers: TestServer[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'xlvs-http-tls-'));
    caPath = join(dir, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=real.test', '-addext', 'subjectAltName=DNS:real.test',
      '-keyout', join(dir, 'key.pem'), '-out', caPath,
    ], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
  });
  after(async () => {
    for (const s of servers) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const httpsServer = async (host: string): Promise<TestServer> => {
    const sni: string[] = [];
    // The SNI is taken from the ClientHello: a client that refuses the certificate may close
    // before the server would report the handshake complete.
    const SNICallback = (name: string, cb: (err: Error | null) => void): void => {
      sni[sni.length - 1] = name;
      cb(null); // the default context (the one certificate)
    };
    const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(caPath), SNICallback }, route);
    const s = await listen(server, host, track(server, [], sni));
    servers.push(s);
    return s;
  };

  for (const host of HOSTS) {
    it(`on ${host}: verification is on by default and refuses the self-signed certificate`, async () => {
      const s = await httpsServer(host);
      const r = await probeHttp({ address: host, port: s.port }, { timeoutMs: 2000, tls: true }, never());
      assertResult(r, false, 'tls DEPTH_ZERO_SELF_SIGNED_CERT');
      assert.equal(s.seen.length, 0, 'no request was sent over an unverified connection');
    });

    it(`on ${host}: verify false is up, without SNI for an IP target`, async () => {
      const s = await httpsServer(host);
      assertResult(await probeHttp({ address: host, port: s.port }, { timeoutMs: 2000, tls: true, verify: false, body: 'service ok' }, never()), true, 'status 200, body matched service ok');
      assert.deepEqual(s.sni, ['']);
      assert.equal(s.seen.at(-1)?.host, `${bracket(host)}:${s.port}`);
    });

    it(`on ${host}: verify with ca and sni real.test is up; the server saw that SNI`, async () => {
      const s = await httpsServer(host);
      const plan = planHttp({ timeoutMs: 2000, tls: true, ca: caPath, sni: 'real.test', digest: `sha256:${digest('sha256', CONTENT)}` });
      assertResult(await probeHttp({ address: host, port: s.port }, plan, never()), true, 'status 200, sha256 matched');
      // host alone gives the SNI too, and the Host header the server sees
      assertResult(await probeHttp({ address: host, port: s.port }, { timeoutMs: 2000, tls: true, ca: caPath, host: 'real.test' }, never()), true, 'status 200');
      assert.deepEqual(s.sni, ['real.test', 'real.test']);
      assert.deepEqual(s.seen.map((x) => x.host), [`${bracket(host)}:${s.port}`, 'real.test']);
    });

    it(`on ${host}: a trusted certificate for another name fails the identity check`, async () => {
      const s = await httpsServer(host);
      assertResult(await probeHttp({ address: host, port: s.port }, { timeoutMs: 2000, tls: true, ca: caPath }, never()), false, 'tls ERR_TLS_CERT_ALTNAME_INVALID');
      assertResult(await probeHttp({ address: host, port: s.port }, { timeoutMs: 2000, tls: true, ca: caPath, sni: 'other.test' }, never()), false, 'tls ERR_TLS_CERT_ALTNAME_INVALID');
      assert.deepEqual(s.sni, ['', 'other.test']);
      assert.equal(s.seen.length, 0, 'no request was sent over an unverified connection');
    });
  }

  it('https to a server that never answers the handshake is a timeout in the tls handshake', async () => {
    const conns: Socket[] = [];
    const silent = createTcpServer((sock) => { conns.push(sock); sock.on('error', () => { /* probe reset */ }); sock.resume(); });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    try {
      const port = (silent.address() as AddressInfo).port;
      const r = await probeHttp({ address: '127.0.0.1', port }, { timeoutMs: 200, tls: true, verify: false }, never());
      assertResult(r, false, 'timeout after 200 ms in the tls handshake');
      assert.ok(r.ms >= 195 && r.ms < 1000, `${r.ms} ms`);
    } finally {
      for (const c of conns) c.destroy();
      silent.close();
      await once(silent, 'close');
    }
  });

  it('https to a plain http server fails in the tls handshake', async () => {
    const s = await httpServer('127.0.0.1');
    servers.push(s);
    const r = await probeHttp({ address: '127.0.0.1', port: s.port }, { timeoutMs: 2000, tls: true, verify: false }, never());
    assertResult(r, false, /^tls (ERR_SSL_\w+|EPROTO|ECONNRESET)$/);
  });
});
