// SPDX-License-Identifier: Apache-2.0
// A health-check target the tests control: a small program run inside a real's namespace whose
// answers come from a mode file the test rewrites, so a check can be flipped between passing and
// failing without touching the real server that carries the traffic.
//
//   node check-target.js --mode-file F [--tcp PORT] [--http PORT] [--udp PORT] [--exit-on-stdin-close 1]
//
// The mode file has one `key value` line per protocol, read again for every request:
//   tcp PONG                               each line received -> "PONG\n"; `hang`: accept, never answer
//   http {"status":200,"body":"ok v1"}     every request -> that status and body
//   udp PONG                               every datagram -> "PONG"; `silent`: no reply
// Killing the process closes the ports: tcp/http probes then get ECONNREFUSED, udp probes an
// ICMP port unreachable. Prints READY once every port is bound; exits on SIGTERM and, with
// --exit-on-stdin-close 1, when the lab that started it goes away.
//
// The same file exports startCheckTarget(), the test side: it writes the mode file (atomically,
// tmp + rename, so the program never reads half a file), starts the program and flips modes.

import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import pino from 'pino';
import { InvalidArgumentError } from '../src/errors.js';
import { intFlag, parseFlags, requireString } from './flags.js';
import { serveUntilTold } from './serve-until-told.js';
import { captureStderr, stopChild, waitForLine } from './child.js';
import { LabError } from './errors.js';
import type { Lab } from './lab.js';

const THIS_FILE = fileURLToPath(import.meta.url);
const READY_TIMEOUT_MS = 10_000;
/** A line longer than this on the tcp port is a caller bug, not a probe. */
const MAX_LINE = 1024;

/** What the target answers, per protocol; absent = that key is not written. */
export interface CheckTargetMode {
  /** The tcp reply line (without "\n"), or 'hang': accept and never answer. */
  tcp?: string;
  http?: { status: number; body: string };
  /** The udp reply, or 'silent': no reply. */
  udp?: string;
}

export const TCP_HANG = 'hang';
export const UDP_SILENT = 'silent';

/** The mode file's text for `mode`; the inverse of parseMode. */
export function formatMode(mode: CheckTargetMode): string {
  const lines: string[] = [];
  for (const key of ['tcp', 'udp'] as const) {
    const v = mode[key];
    if (v === undefined) continue;
    if (/[\r\n]/.test(v)) throw new InvalidArgumentError(`mode.${key}`, v, 'must be one line');
    lines.push(`${key} ${v}`);
  }
  if (mode.http !== undefined) {
    const { status, body } = mode.http;
    if (!Number.isInteger(status) || status < 100 || status > 599) throw new InvalidArgumentError('mode.http.status', status, 'must be an HTTP status 100..599');
    lines.push(`http ${JSON.stringify({ status, body })}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Reads a mode file's text; a malformed line is an error naming it. */
export function parseMode(text: string): CheckTargetMode {
  const mode: CheckTargetMode = {};
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const sp = line.indexOf(' ');
    const key = sp < 0 ? line : line.slice(0, sp);
    const value = sp < 0 ? '' : line.slice(sp + 1);
    if (key === 'tcp' || key === 'udp') mode[key] = value;
    else if (key === 'http') {
      let v: unknown;
      try {
        v = JSON.parse(value);
      } catch {
        throw new InvalidArgumentError(`mode line ${i + 1}`, line, 'http needs JSON {"status":N,"body":"..."}');
      }
      const h = v as { status?: unknown; body?: unknown };
      if (typeof h?.status !== 'number' || typeof h.body !== 'string') throw new InvalidArgumentError(`mode line ${i + 1}`, line, 'http needs JSON {"status":N,"body":"..."}');
      mode.http = { status: h.status, body: h.body };
    } else throw new InvalidArgumentError(`mode line ${i + 1}`, line, 'key must be tcp, http or udp');
  }
  return mode;
}

// ---------------------------------------------------------------- the program (in the namespace)

const log = pino({ level: process.env.XLVS_LOG_LEVEL ?? 'info', base: { part: 'check-target' } }, pino.destination(2));

function current(file: string, key: keyof CheckTargetMode): CheckTargetMode[typeof key] {
  const v = parseMode(readFileSync(file, 'utf8'))[key];
  if (v === undefined) throw new InvalidArgumentError(`mode file ${file}`, key, 'has no line for this protocol');
  return v;
}

function tcpServer(file: string): Server {
  return createTcpServer((sock: Socket) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', (err) => log.debug({ err }, 'tcp connection error'));
    sock.on('data', (data: string) => {
      buf += data;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        buf = buf.slice(nl + 1);
        let reply: string;
        try {
          reply = current(file, 'tcp') as string;
        } catch (err) {
          log.error({ err }, 'tcp: no mode; closing the connection');
          sock.destroy();
          return;
        }
        if (reply !== TCP_HANG) sock.write(`${reply}\n`);
      }
      if (buf.length > MAX_LINE) sock.destroy(new Error('line too long'));
    });
  });
}

function httpServer(file: string): HttpServer {
  const server = createHttpServer((req, res) => {
    req.resume();
    let mode: { status: number; body: string };
    try {
      mode = current(file, 'http') as { status: number; body: string };
    } catch (err) {
      log.error({ err }, 'http: no mode; answering 500');
      mode = { status: 500, body: 'check-target has no http mode' };
    }
    res.writeHead(mode.status, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end(mode.body);
  });
  server.on('clientError', (err, sock) => {
    log.debug({ err }, 'http client error');
    sock.destroy();
  });
  return server;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { 'mode-file': 'string', tcp: 'int', http: 'int', udp: 'int', 'exit-on-stdin-close': 'int' });
  const file = requireString(flags, 'mode-file');
  parseMode(readFileSync(file, 'utf8')); // a bad file fails the start, not the first probe
  const bound: Promise<void>[] = [];
  const listen = (server: Server | HttpServer, port: number): void => {
    server.listen({ port, host: '0.0.0.0' });
    bound.push(once(server, 'listening').then(() => undefined));
  };
  if (flags.tcp !== undefined) listen(tcpServer(file), intFlag(flags, 'tcp'));
  if (flags.http !== undefined) listen(httpServer(file), intFlag(flags, 'http'));
  if (flags.udp !== undefined) {
    const udp = createSocket('udp4');
    udp.on('message', (_msg, rinfo) => {
      let reply: string;
      try {
        reply = current(file, 'udp') as string;
      } catch (err) {
        log.error({ err }, 'udp: no mode; not answering');
        return;
      }
      if (reply === UDP_SILENT) return;
      udp.send(reply, rinfo.port, rinfo.address, (err) => {
        if (err) log.warn({ err, peer: rinfo.address }, 'udp reply failed');
      });
    });
    bound.push(new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(intFlag(flags, 'udp'), '0.0.0.0', () => {
        udp.off('error', reject);
        udp.on('error', (err) => log.error({ err }, 'udp socket error'));
        resolve();
      });
    }));
  }
  if (bound.length === 0) throw new InvalidArgumentError('flags', process.argv.slice(2), 'need at least one of --tcp, --http, --udp');
  await Promise.all(bound);

  serveUntilTold(log, 'check target', intFlag(flags, 'exit-on-stdin-close', 0) === 1);
}

// ------------------------------------------------------------------------------ the test side

export interface CheckTargetOptions {
  tcp?: number;
  http?: number;
  udp?: number;
  mode: CheckTargetMode;
}

/** A running check target and its mode file. */
export class CheckTarget {
  private child: ChildProcess | undefined;

  private constructor(
    private readonly lab: Lab,
    readonly ns: string,
    readonly dir: string,
    private readonly opts: CheckTargetOptions,
  ) {}

  get modeFile(): string {
    return join(this.dir, 'mode');
  }

  static async start(lab: Lab, ns: string, opts: CheckTargetOptions): Promise<CheckTarget> {
    const t = new CheckTarget(lab, ns, mkdtempSync(join(tmpdir(), `${lab.prefix}check-`)), opts);
    t.setMode(opts.mode);
    await t.restart();
    return t;
  }

  /** Rewrites the mode file atomically; the next request sees the new mode. */
  setMode(mode: CheckTargetMode): void {
    const tmp = `${this.modeFile}.tmp`;
    writeFileSync(tmp, formatMode(mode));
    renameSync(tmp, this.modeFile);
  }

  /** Starts the program (again, after stop()); resolves once its ports are bound. */
  async restart(): Promise<void> {
    if (this.child !== undefined) throw new LabError(`check target in ${this.ns} is running already`);
    const args = ['--mode-file', this.modeFile, '--exit-on-stdin-close', '1'];
    for (const k of ['tcp', 'http', 'udp'] as const) if (this.opts[k] !== undefined) args.push(`--${k}`, String(this.opts[k]));
    const child = this.lab.spawn(this.ns, [process.execPath, THIS_FILE, ...args]);
    const tail = captureStderr(child, (line) => this.lab.log.debug({ ns: this.ns, line }, 'check target stderr'));
    this.child = child;
    try {
      await waitForLine(child, 'READY', READY_TIMEOUT_MS, tail);
    } catch (err) {
      await this.stop();
      throw new LabError(`check target in ${this.ns} did not start: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /** Kills the program and waits for its exit: its ports are closed when this resolves. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child !== undefined) await stopChild(child);
  }

  /** stop() and removes the mode file's directory. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === THIS_FILE) {
  main().catch((err: unknown) => {
    log.fatal({ err }, 'check target failed to start');
    process.exit(1);
  });
}
