// SPDX-License-Identifier: Apache-2.0
// The failover traffic client, run by lab/failover-traffic.ts inside the client namespace:
//
//   node failover-traffic-client.js --host VIP --tcp-port P --udp-port U --connections N
//        --duration-ms D [--interval-ms 5] [--probe-ms 1] [--stall-ms 2000] [--connect-timeout-ms 5000]
//
// N long-lived TCP connections to the reals' line service (realserver.ts), each sending
// "ECHO <i>.<seq>" every interval and checking every echo in order, plus one UDP flow sending
// "SEQ <n>" every probe interval and timing the answers. Commands on stdin, one a line:
// "REPORT <id>", "MARK <id>" (forget the maxima so far), "STOP". Prints ClientLine JSON lines
// (failover-traffic-report.ts): ready once every connection is up and a probe was answered, a
// report per REPORT, and a final report on STOP, at --duration-ms (hard stop) or when stdin
// closes. Exit 1 after an `error` line (a connection or the first probe failed at start).

import { connect, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { intFlag, parseFlags, requireString } from './flags.js';
import { GapTracker, type ClientLine, type ConnReport, type ConnState, type TrafficReport, type UdpReport } from './failover-traffic-report.js';

/** Bounds: the lab never needs more, and a typo must not open 100,000 sockets. */
const MAX_CONNECTIONS = 1000;
const MAX_DURATION_MS = 15 * 60_000;
/** Requests in flight per connection before it stops sending (an outage must not queue without end). */
const MAX_PENDING = 64;

const now = (): number => performance.now();
// Unix ms of a performance.now() instant, on the wall clock as it reads now: the parent compares
// these with its own Date.now() (performance.timeOrigin is read once at start and drifts apart).
const unix = (t: number): number => Math.round(Date.now() - (performance.now() - t));
const print = (line: ClientLine): void => void process.stdout.write(`${JSON.stringify(line)}\n`);

class EchoConn {
  state: ConnState | 'connecting' = 'connecting';
  error: string | undefined;
  sent = 0;
  echoed = 0;
  mismatched = 0;
  readonly gaps: GapTracker;
  private readonly pending: string[] = [];
  private buf = '';
  private readonly sock: Socket;

  constructor(readonly i: number, host: string, port: number, connectTimeoutMs: number, onUp: (err?: Error) => void) {
    this.gaps = new GapTracker(now());
    this.sock = connect({ host, port });
    this.sock.setNoDelay(true);
    this.sock.setEncoding('latin1');
    const timer = setTimeout(() => this.sock.destroy(new Error(`connect timeout ${connectTimeoutMs} ms`)), connectTimeoutMs);
    this.sock.once('connect', () => {
      clearTimeout(timer);
      this.state = 'alive';
      this.gaps.answer(now()); // the stall clock starts at the handshake
      onUp();
    });
    this.sock.on('data', (d: string) => this.onData(d));
    this.sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (this.state === 'connecting') onUp(err);
      this.end(err.code === 'ECONNRESET' ? 'reset' : 'error', `${err.code ?? 'error'}: ${err.message}`);
    });
    this.sock.on('close', () => {
      clearTimeout(timer);
      this.end('closed', 'closed by the far side');
    });
  }

  tick(): void {
    if (this.state !== 'alive' || this.pending.length >= MAX_PENDING) return;
    const token = `${this.i}.${this.sent}`;
    this.sent += 1;
    this.pending.push(token);
    this.sock.write(`ECHO ${token}\n`);
  }

  report(t: number, stallMs: number): ConnReport {
    const longest = this.state === 'alive' ? this.gaps.longestAt(t).ms : this.gaps.longestAt(this.gaps.lastAnswer).ms;
    return {
      i: this.i,
      state: this.state === 'connecting' ? 'error' : this.state,
      stalled: this.state === 'alive' && t - this.gaps.lastAnswer > stallMs,
      sent: this.sent,
      echoed: this.echoed,
      mismatched: this.mismatched,
      longestStallMs: Math.round(longest),
      ...(this.error !== undefined ? { error: this.error } : {}),
    };
  }

  destroy(): void {
    this.sock.destroy();
  }

  private onData(d: string): void {
    this.buf += d;
    for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
      const got = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const want = this.pending.shift();
      if (got !== want) this.mismatched += 1;
      this.echoed += 1;
      this.gaps.answer(now());
    }
  }

  private end(state: ConnState, why: string): void {
    // The first cause wins: a reset is followed by a close.
    if (this.state !== 'alive' && this.state !== 'connecting') return;
    this.state = state;
    this.error = why;
  }
}

class ProbeStream {
  sent = 0;
  received = 0;
  bogus = 0;
  sendErrors = 0;
  readonly reals: Record<string, number> = {};
  readonly gaps: GapTracker;
  private readonly seen = new Set<number>();
  private readonly sock;
  private firstAnswer: (() => void) | undefined;

  constructor(private readonly host: string, private readonly port: number) {
    this.gaps = new GapTracker(now());
    this.sock = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    this.sock.on('message', (msg) => this.onAnswer(msg.toString('latin1')));
    // A send error (unreachable while a link is down) is a lost probe: counted, and the gap shows it.
    this.sock.on('error', () => (this.sendErrors += 1));
  }

  answered(): Promise<void> {
    return this.received > 0 ? Promise.resolve() : new Promise((r) => (this.firstAnswer = r));
  }

  tick(): void {
    const n = this.sent;
    this.sent += 1;
    this.sock.send(`SEQ ${n}`, this.port, this.host, (err) => {
      if (err) this.sendErrors += 1;
    });
  }

  report(t: number): UdpReport {
    const g = this.gaps.longestAt(t);
    return { sent: this.sent, received: this.received, bogus: this.bogus, sendErrors: this.sendErrors, longestGapMs: Math.round(g.ms), gapFromMs: Math.round(g.from), gapFromUnixMs: unix(g.from), lastAnswerUnixMs: this.received === 0 ? 0 : unix(this.gaps.lastAnswer), reals: { ...this.reals } };
  }

  close(): void {
    this.sock.close();
  }

  private onAnswer(text: string): void {
    const [tag, seqText, real] = text.split(' ');
    const seq = Number(seqText);
    if (tag !== 'SEQ' || !Number.isSafeInteger(seq) || seq >= this.sent || this.seen.has(seq) || real === undefined) {
      this.bogus += 1;
      return;
    }
    this.seen.add(seq);
    this.received += 1;
    this.reals[real] = (this.reals[real] ?? 0) + 1;
    this.gaps.answer(now());
    this.firstAnswer?.();
    this.firstAnswer = undefined;
  }
}

function report(conns: EchoConn[], probes: ProbeStream, stallMs: number): TrafficReport {
  const t = now();
  const per = conns.map((c) => c.report(t, stallMs));
  const count = (f: (c: ConnReport) => boolean): number => per.filter(f).length;
  const alive = count((c) => c.state === 'alive');
  const stalled = count((c) => c.stalled);
  const reset = count((c) => c.state === 'reset');
  const closed = count((c) => c.state === 'closed');
  const errored = count((c) => c.state === 'error');
  return {
    atMs: Math.round(t),
    unixMs: unix(t),
    connections: conns.length,
    alive,
    reset,
    stalled,
    closed,
    errored,
    corrupt: count((c) => c.mismatched > 0),
    lost: reset + stalled + closed + errored,
    longestStallMs: Math.max(0, ...per.map((c) => c.longestStallMs)),
    perConnection: per,
    udp: probes.report(t),
  };
}

async function main(): Promise<void> {
  const f = parseFlags(process.argv.slice(2), {
    host: 'string', 'tcp-port': 'int', 'udp-port': 'int', connections: 'int', 'duration-ms': 'int',
    'interval-ms': 'int', 'probe-ms': 'int', 'stall-ms': 'int', 'connect-timeout-ms': 'int',
  });
  const host = requireString(f, 'host');
  const n = intFlag(f, 'connections');
  const durationMs = intFlag(f, 'duration-ms');
  if (n < 1 || n > MAX_CONNECTIONS) throw new Error(`--connections must be 1..${MAX_CONNECTIONS} (got ${n})`);
  if (durationMs < 1 || durationMs > MAX_DURATION_MS) throw new Error(`--duration-ms must be 1..${MAX_DURATION_MS} (got ${durationMs})`);
  const intervalMs = Math.max(1, intFlag(f, 'interval-ms', 5));
  const probeMs = Math.max(1, intFlag(f, 'probe-ms', 1));
  const stallMs = intFlag(f, 'stall-ms', 2000);
  const connectTimeoutMs = intFlag(f, 'connect-timeout-ms', 5000);
  const t0 = now();

  const conns: EchoConn[] = [];
  const probes = new ProbeStream(host, intFlag(f, 'udp-port'));
  let finished = false;
  const finish = (why: string): void => {
    if (finished) return;
    finished = true;
    print({ type: 'final', why, report: report(conns, probes, stallMs) });
    for (const c of conns) c.destroy();
    probes.close();
    process.exit(0);
  };
  const hardStop = setTimeout(() => finish(`duration ${durationMs} ms over`), durationMs);
  hardStop.unref();

  const up: Array<Promise<void>> = [];
  for (let i = 0; i < n; i++) {
    up.push(new Promise<void>((resolve, reject) => conns.push(new EchoConn(i, host, intFlag(f, 'tcp-port'), connectTimeoutMs, (err) => (err ? reject(err) : resolve())))));
  }
  const probeTimer = setInterval(() => probes.tick(), probeMs);
  const firstProbe = Promise.race([
    probes.answered(),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no UDP probe answered within ${connectTimeoutMs} ms`)), connectTimeoutMs).unref()),
  ]);
  try {
    await Promise.all([...up, firstProbe]);
  } catch (err) {
    clearInterval(probeTimer);
    for (const c of conns) c.destroy();
    probes.close();
    throw err;
  }
  // Each round in a fresh random order, as independent clients' packets would come: a peer that
  // picks a real per packet it sees first (nftables `numgen inc` on a backup with no conntrack
  // state) must not see the connections in the order they were opened in.
  const order = conns.slice();
  setInterval(() => {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const c of order) c.tick();
  }, intervalMs);
  print({ type: 'ready', connections: n, ms: Math.round(now() - t0) });

  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const [cmd, idText] = line.trim().split(/\s+/);
    const id = Number(idText ?? 0);
    if (cmd === 'REPORT') print({ type: 'report', id, report: report(conns, probes, stallMs) });
    else if (cmd === 'MARK') {
      probes.gaps.mark();
      for (const c of conns) c.gaps.mark();
      print({ type: 'marked', id });
    } else if (cmd === 'STOP') finish('stopped by the parent');
    else print({ type: 'error', error: `unknown command ${JSON.stringify(line)}` });
  });
  lines.on('close', () => finish('stdin closed'));
}

main().catch((err: unknown) => {
  print({ type: 'error', error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
