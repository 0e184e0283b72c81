// SPDX-License-Identifier: Apache-2.0
// A lab real server that tells who it saw: one HTTP listener per --ports entry, dual stack
// (IPv4 and IPv6), answering any request after --delay-ms with the body
//
//   <name> <peer address> <peer port> <local address> <connections open now>
//
// so a test can check which address a forwarding method shows the real (the client's for
// nat/dr/tun, the router's local address for fullnat), which address the packets arrived
// for (the real's own for nat/fullnat, the VIP held on lo for dr/tun), that no two concurrent connections
// share a source port, and that they really were concurrent. Prints READY once bound; exits
// on SIGTERM/SIGINT or when stdin closes (so a crashed lab does not leave it behind).

import { createServer } from 'node:http';
import { once } from 'node:events';
import pino from 'pino';
import { intFlag, parseFlags, requireString } from './flags.js';
import { serveUntilTold } from './serve-until-told.js';
import { InvalidArgumentError } from '../src/errors.js';

const log = pino({ level: process.env.XLVS_LOG_LEVEL ?? 'info' }, pino.destination(2));

/** IPv4 peers of a dual-stack socket show as ::ffff:a.b.c.d; report them as IPv4. */
export function plainAddress(a: string | undefined): string {
  if (a === undefined) return '?';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

export function parsePorts(text: string): number[] {
  const ports = text.split(',').map(Number);
  for (const p of ports) if (!Number.isInteger(p) || p < 1 || p > 65535) throw new InvalidArgumentError('--ports', text, 'must be a comma-separated list of ports 1..65535');
  return ports;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { name: 'string', ports: 'string', 'delay-ms': 'int' });
  const name = requireString(flags, 'name');
  const ports = parsePorts(requireString(flags, 'ports'));
  const delayMs = intFlag(flags, 'delay-ms', 0);
  let open = 0;

  const servers = ports.map((port) => {
    const s = createServer((req, res) => {
      req.resume();
      const peer = `${plainAddress(req.socket.remoteAddress)} ${req.socket.remotePort ?? 0} ${plainAddress(req.socket.localAddress)}`;
      setTimeout(() => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end(`${name} ${peer} ${open}`);
      }, delayMs);
    });
    s.on('connection', (sock) => {
      open += 1;
      sock.on('close', () => (open -= 1));
    });
    s.on('clientError', (err, sock) => {
      log.debug({ err }, 'http client error');
      sock.destroy();
    });
    s.listen({ port, host: '::', ipv6Only: false });
    return once(s, 'listening');
  });
  await Promise.all(servers);

  serveUntilTold(log, 'peer echo server', true);
}

// Only when run as a program; tests import the helpers above.
if (process.argv[1]?.endsWith('peer-echo-server.js')) {
  main().catch((err: unknown) => {
    log.fatal({ err }, 'peer echo server failed to start');
    process.exit(1);
  });
}
