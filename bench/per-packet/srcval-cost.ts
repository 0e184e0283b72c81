// SPDX-License-Identifier: Apache-2.0
// What source validation (bpf/srcval.h) costs a packet that opens a flow: the per-packet
// benchmark's new-rr case (a SYN to VIP:80, a new source port each run, behind the restoring
// wrapper) with source_validation off, strict, loose and strict with 100 deny prefixes, and a
// refused SYN (a private-LAN source), alternating within each round. Not a `make bench` section:
// run by hand, as root, on a quiet machine:
//
//   node dist/bench/per-packet/srcval-cost.js [rounds] [runs per case]
//
// Prints each case's median ns per run (wrapper included: compare cases, not absolute values)
// and the median over rounds of (strict - off), the paired difference, which shared CPUs
// disturb less than either median alone.

import pino from 'pino';
import { pathToFileURL } from 'node:url';
import { PerPacketEnv, VIP, CLIENT, REALS, REAL_PORT, SCHED_PORTS } from './per-packet-env.js';
import { Restorer } from './restore.js';
import { inNetns, XdpTestRunner, verdictName } from '../../src/kernel/test-run.js';
import { Reconciler } from '../../src/dataplane/reconcile.js';
import { desired, service } from '../../testing/desired.js';
import { buildFrame } from '../../testing/frames.js';
import type { SourcePrefix, SourceValidationMode } from '../../src/model/types.js';

interface Case {
  name: string;
  mode: SourceValidationMode;
  src: string;
  want: 'XDP_REDIRECT' | 'XDP_DROP';
  deny?: SourcePrefix[];
}

const CASES: Case[] = [
  { name: 'new flow, off', mode: 'off', src: CLIENT, want: 'XDP_REDIRECT' },
  { name: 'new flow, strict', mode: 'strict', src: CLIENT, want: 'XDP_REDIRECT' },
  { name: 'new flow, loose', mode: 'loose', src: CLIENT, want: 'XDP_REDIRECT' },
  { name: 'new flow, strict, 100 deny prefixes', mode: 'strict', src: CLIENT, want: 'XDP_REDIRECT', deny: Array.from({ length: 100 }, (_, i) => ({ address: `198.18.${i}.0`, prefix: 24 })) },
  { name: 'refused: private-LAN source, strict', mode: 'strict', src: '10.77.0.50', want: 'XDP_DROP' },
];

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;

async function main(rounds: number, runs: number): Promise<void> {
  const log = pino({ level: 'warn' }, pino.destination(2));
  const env = await PerPacketEnv.create(log);
  const restorer = Restorer.load(`${env.pinBase}-restore`);
  try {
    const rec = new Reconciler(env.dp.maps, log, { privateIfindex: env.priv0 });
    rec.adopt();
    const reals = REALS.map((address) => ({ address, port: REAL_PORT }));
    const services = SCHED_PORTS.map(({ scheduler, port }) => service(VIP, port, 'tcp', scheduler, reals));
    const wrapped = new XdpTestRunner(restorer.progFd);
    const ns = new Map<string, number[]>(CASES.map((c) => [c.name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const c of CASES) {
        await rec.apply(desired(services, { source_validation: { mode: c.mode, allow: [], deny: c.deny ?? [] } }));
        env.clearFlows();
        const frame = buildFrame({
          eth: { src: env.macs.client, dst: env.macs.pub0 },
          l3: { kind: 'ipv4', src: c.src, dst: VIP, id: 7, df: true, ttl: 64, l4: { kind: 'tcp', sport: 1024, dport: 80, seq: 1, flags: 'SYN' } },
        });
        restorer.arm(env.dp.progFd('xlvs_public'), frame, true, 1024);
        const v = inNetns(env.rtr, () => wrapped.run(frame, undefined, { ingressIfindex: env.pub0, repeat: runs }));
        if (verdictName(v) !== c.want) throw new Error(`${c.name}: ${verdictName(v)}, expected ${c.want}`);
        ns.get(c.name)!.push(wrapped.durationNs);
        env.clearFlows();
      }
    }
    for (const [name, a] of ns) console.log(`${name.padEnd(40)} median ${median(a)} ns   runs: ${a.join(' ')}`);
    const off = ns.get('new flow, off')!;
    const strict = ns.get('new flow, strict')!;
    console.log(`strict - off, median of the ${rounds} paired rounds: ${median(strict.map((s, i) => s - off[i]!))} ns`);
  } finally {
    restorer.close();
    await env.close(log);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(Number(process.argv[2] ?? 15), Number(process.argv[3] ?? 20000)).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
