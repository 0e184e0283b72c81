// SPDX-License-Identifier: Apache-2.0
// A lab real server: one small process per real-server namespace, answering with its own name
// so a client can tell which real a load balancer picked.
//
//   HTTP  :80    any request -> 200, body = name (honours Connection: close)
//   HTTP  --http-port-2 (optional; the lab's reals use 8081): the same, on a second port: two services of one test that share a real's
//                port share its 4-tuples too (client address and port, real address and port),
//                and a new connection that meets the other service's TIME_WAIT socket there is
//                answered with a challenge ACK, reset and retried, as with any NAT balancer
//   TCP   :9000  "PING\n" -> "<name>\n" (connection stays open); "ECHO <token>\n" -> "<token>\n"
//                (connection stays open: failover-traffic's checked stream); "BULK <n> [seed]\n" -> n
//                pattern bytes (see pattern.ts), then the server closes
//   UDP   :5353  "SEQ <n>" -> "SEQ <n> <name>" (failover-traffic's probes); any other datagram -> "<name>"
//
// With --dual-stack 1 every listener is bound to :: (IPv6, v4-mapped IPv4 too) instead of 0.0.0.0:
// one server answers both families (the HA lab's reals).
//
// Prints READY on stdout once every listener is bound. Exits on SIGTERM/SIGINT, and when its
// stdin closes if --exit-on-stdin-close is 1, so a crashed lab does not leave servers behind.

import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import pino from 'pino';
import { intFlag, parseFlags, requireString } from './flags.js';
import { serveUntilTold } from './serve-until-told.js';
import { BulkPattern, DEFAULT_BULK_SEED } from './pattern.js';

/** Longest command line accepted on the TCP port; a longer one is a client bug. */
const MAX_LINE = 256;
/** A BULK bigger than this is refused: the lab never needs it and it bounds a typo's cost. */
const MAX_BULK = 64 * 1024 * 1024 * 1024;

const log = pino({ level: process.env.XLVS_LOG_LEVEL ?? 'info' }, pino.destination(2));

/** Where the listeners bind: 0.0.0.0, or :: with --dual-stack 1 (IPV6_V6ONLY off: both families). */
let anyHost = '0.0.0.0';

function listen(server: Server | ReturnType<typeof createHttpServer>, port: number): Promise<void> {
  server.listen({ port, host: anyHost, ipv6Only: false });
  return once(server, 'listening').then(() => undefined);
}

/** Streams n pattern bytes, respecting backpressure, then half-closes. */
function sendBulk(sock: Socket, n: number, seed: string): void {
  const gen = new BulkPattern(n, seed);
  const pump = (): void => {
    for (let chunk = gen.next(); chunk !== undefined; chunk = gen.next()) {
      if (!sock.write(chunk)) {
        sock.once('drain', pump);
        return;
      }
    }
    sock.end();
  };
  pump();
}

function handleLine(sock: Socket, name: string, line: string): 'more' | 'done' {
  const [cmd, arg, seed] = line.trim().split(/\s+/);
  if (cmd === 'PING') {
    sock.write(`${name}\n`);
    return 'more';
  }
  if (cmd === 'ECHO' && arg !== undefined) {
    sock.write(`${arg}\n`);
    return 'more';
  }
  if (cmd === 'BULK') {
    const n = Number(arg);
    if (!Number.isSafeInteger(n) || n < 0 || n > MAX_BULK) {
      sock.end(`ERR bad BULK size ${JSON.stringify(arg)}\n`);
      return 'done';
    }
    sendBulk(sock, n, seed ?? DEFAULT_BULK_SEED);
    return 'done';
  }
  sock.write(`ERR unknown command ${JSON.stringify(cmd)}\n`);
  return 'more';
}

function lineServer(name: string): Server {
  return createTcpServer((sock) => {
    let buf = '';
    let done = false;
    sock.setEncoding('utf8');
    sock.on('data', (data: string) => {
      if (done) return; // a BULK is streaming; anything more from the client is ignored
      buf += data;
      for (let nl = buf.indexOf('\n'); nl >= 0 && !done; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        done = handleLine(sock, name, line) === 'done';
      }
      if (!done && buf.length > MAX_LINE) sock.destroy(new Error('command line too long'));
    });
    // Clients reset connections on purpose (timeouts, killed hold sessions): worth a debug line only.
    sock.on('error', (err) => log.debug({ err, peer: sock.remoteAddress }, 'tcp connection error'));
  });
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), {
    name: 'string',
    'http-port': 'int',
    'http-port-2': 'int',
    'tcp-port': 'int',
    'udp-port': 'int',
    'exit-on-stdin-close': 'int',
    'dual-stack': 'int',
  });
  const name = requireString(flags, 'name');
  const dualStack = intFlag(flags, 'dual-stack', 0) === 1;
  if (dualStack) anyHost = '::';

  // Two HTTP ports, one handler: node's http.Server listens on one port.
  const httpServer = (): ReturnType<typeof createHttpServer> => {
    const server = createHttpServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Real-Server': name });
      res.end(name);
    });
    server.on('clientError', (err, sock) => {
      log.debug({ err }, 'http client error');
      sock.destroy();
    });
    return server;
  };
  const http = httpServer();
  const http2 = httpServer();
  const tcp = lineServer(name);
  const udp = createSocket(dualStack ? { type: 'udp6', ipv6Only: false } : { type: 'udp4' });
  udp.on('message', (msg, rinfo) => {
    const text = msg.toString('latin1', 0, Math.min(msg.length, MAX_LINE));
    const reply = text.startsWith('SEQ ') ? `${text} ${name}` : name;
    udp.send(reply, rinfo.port, rinfo.address, (err) => {
      if (err) log.warn({ err, peer: rinfo.address }, 'udp reply failed');
    });
  });

  await Promise.all([
    listen(http, intFlag(flags, 'http-port', 80)),
    ...(flags['http-port-2'] === undefined ? [] : [listen(http2, intFlag(flags, 'http-port-2'))]),
    listen(tcp, intFlag(flags, 'tcp-port', 9000)),
    new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(intFlag(flags, 'udp-port', 5353), anyHost, () => {
        udp.off('error', reject);
        resolve();
      });
    }),
  ]);
  udp.on('error', (err) => log.error({ err }, 'udp socket error'));

  serveUntilTold(log, 'real server', intFlag(flags, 'exit-on-stdin-close', 0) === 1);
  log.debug({ name }, 'real server ready');
}

main().catch((err: unknown) => {
  log.fatal({ err }, 'real server failed to start');
  process.exit(1);
});
