// SPDX-License-Identifier: Apache-2.0
// The peer: the same services as an nftables ruleset, kube-proxy's nftables layout (one verdict
// map VIP . proto . port -> goto the service's chain; the chain DNATs with a numgen map over the
// reals, weights as ranges of the random number), loaded with `nft -f` in a lab router
// namespace. Measured: the load's time, its kernel memory, and a one-element update (one real's
// weight: the service chain flushed and its rule added again, in one nft transaction, which is
// what kube-proxy does for an endpoint change).
//
// Kernel memory of nftables objects has no per-table counter: it is the change of Slab + Percpu
// + VmallocUsed in /proc/meminfo across the load, which other processes on the machine disturb
// (reported as such, median of the rounds).

import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pino from 'pino';
import { Lab } from '../../lab/lab.js';
import { services, type GenService, type WorkloadSpec } from './control-plane-config.js';

const TABLE = 'xlvsbench';
/** nftables frees a deleted table's objects after an RCU grace period: wait before reading. */
const FREE_SETTLE_MS = 1000;

function dnatRule(v: GenService): string {
  let at = 0;
  const elems = v.reals.filter((r) => r.weight > 0).map((r) => {
    const from = at;
    at += r.weight;
    return `${at - 1 === from ? from : `${from}-${at - 1}`} : ${r.address} . ${v.port}`;
  });
  return `meta l4proto tcp dnat ip to numgen random mod ${at} map { ${elems.join(', ')} }`;
}

export function nftRuleset(spec: WorkloadSpec): string {
  const svcs = services(spec);
  const lines = [`table ip ${TABLE} {`];
  svcs.forEach((v, i) => lines.push(`  chain svc-${i} {`, `    ${dnatRule(v)}`, '  }'));
  lines.push('  map services {', '    type ipv4_addr . inet_proto . inet_service : verdict', '    elements = {');
  svcs.forEach((v, i) => lines.push(`      ${v.vip} . tcp . ${v.port} : goto svc-${i},`));
  lines.push('    }', '  }');
  lines.push('  chain prerouting {', '    type nat hook prerouting priority dstnat; policy accept;', '    ip daddr . meta l4proto . th dport vmap @services', '  }', '}');
  return lines.join('\n') + '\n';
}

/** One real's weight changed: the service's chain rewritten in one transaction. */
export function nftUpdate(spec: WorkloadSpec, service: number): string {
  const v = services(spec)[service]!;
  return `flush chain ip ${TABLE} svc-${service}\nadd rule ip ${TABLE} svc-${service} ${dnatRule(v)}\n`;
}

export function kernelKiB(): number {
  const m = readFileSync('/proc/meminfo', 'utf8');
  const kib = (f: string): number => Number(new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(m)?.[1] ?? 0);
  return kib('Slab') + kib('Percpu') + kib('VmallocUsed');
}

export interface NftFigures {
  rules: number;
  bytes: number;
  loadMs: number[];
  kernelKiB: number[];
  /** the same measured the other way: meminfo before the delete minus after it (and a settle). */
  freedKiB: number[];
  updateMs: number[];
  /** chains in the loaded table, counted by `nft -j list chains` (the load really happened). */
  chains: number;
}

export async function runNft(o: { spec: WorkloadSpec; rounds: number; updates: number; service: number; log: pino.Logger }): Promise<NftFigures> {
  const lab = await Lab.create({ reals: 1, log: o.log });
  const dir = mkdtempSync(join(tmpdir(), `${lab.prefix}nft-`));
  try {
    const file = join(dir, 'ruleset.nft');
    const text = nftRuleset(o.spec);
    writeFileSync(file, text);
    const ns = lab.ns.router;
    const loadMs: number[] = [], kernel: number[] = [], freed: number[] = [], updateMs: number[] = [];
    let chains = 0;
    for (let r = 0; r < o.rounds; r++) {
      const k0 = kernelKiB();
      const t = performance.now();
      await lab.exec(ns, ['nft', '-f', file], { timeoutMs: 120_000 });
      loadMs.push(performance.now() - t);
      kernel.push(kernelKiB() - k0);
      const listed = JSON.parse((await lab.exec(ns, ['nft', '-j', 'list', 'chains', 'ip'])).stdout) as { nftables: Array<{ chain?: { table: string } }> };
      chains = listed.nftables.filter((e) => e.chain?.table === TABLE).length;
      if (r === o.rounds - 1) {
        for (let u = 0; u < o.updates; u++) {
          const uf = join(dir, `update-${u}.nft`);
          writeFileSync(uf, nftUpdate({ ...o.spec, change: { service: o.service, real: 3, weight: 10 + u } }, o.service));
          const tu = performance.now();
          await lab.exec(ns, ['nft', '-f', uf]);
          updateMs.push(performance.now() - tu);
        }
      }
      const k1 = kernelKiB();
      await lab.exec(ns, ['nft', 'delete', 'table', 'ip', TABLE], { timeoutMs: 120_000 });
      await new Promise((res) => setTimeout(res, FREE_SETTLE_MS));
      freed.push(k1 - kernelKiB());
    }
    return { rules: o.spec.services, bytes: Buffer.byteLength(text), loadMs, kernelKiB: kernel, freedKiB: freed, updateMs, chains };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await lab.destroy(); // the table goes with the namespace if a step above failed
  }
}
