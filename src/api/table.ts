// SPDX-License-Identifier: Apache-2.0
// Human and JSON renderings of API results for xlvsctl. Pure functions, so the exact output
// is unit-tested without a daemon.

import { type Counters, type ServiceStatus } from '../model/types.js';

function counterText(c: Counters): string {
  return `conns=${c.conns} pkts_in=${c.packets_in} bytes_in=${c.bytes_in} pkts_out=${c.packets_out} bytes_out=${c.bytes_out}`;
}

/**
 * An ipvsadm -Ln style listing, one line per service and one indented "->" line per real:
 *
 *   TCP  203.0.113.100:80 rr  conns=3 pkts_in=10 bytes_in=900 pkts_out=8 bytes_out=4000
 *     -> 10.77.0.11:80  nat  weight 1  conns=2 pkts_in=6 ...
 *
 * Address, scheduler and weight columns are padded to the widest entry so counters line up.
 */
export function formatServiceTable(services: readonly ServiceStatus[]): string {
  if (services.length === 0) return '(no services)\n';
  const vipWidth = Math.max(...services.map((s) => `${s.vip}:${s.port}`.length));
  const schedWidth = Math.max(...services.map((s) => s.scheduler.length));
  const reals = services.flatMap((s) => s.reals);
  const realWidth = Math.max(0, ...reals.map((r) => `${r.address}:${r.port}`.length));
  const weightWidth = Math.max(0, ...reals.map((r) => String(r.weight).length));
  const lines: string[] = [];
  for (const s of services) {
    const vip = `${s.vip}:${s.port}`.padEnd(vipWidth);
    lines.push(`${s.protocol.toUpperCase().padEnd(4)} ${vip} ${s.scheduler.padEnd(schedWidth)}  ${counterText(s.counters)}`);
    for (const r of s.reals) {
      const addr = `${r.address}:${r.port}`.padEnd(realWidth);
      const weight = String(r.weight).padEnd(weightWidth);
      lines.push(`  -> ${addr}  ${r.method}  weight ${weight}  ${counterText(r.counters)}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** Drop counters, one "reason  count" line each, sorted by reason for stable output. */
export function formatDrops(drops: Readonly<Record<string, bigint>>): string {
  const reasons = Object.keys(drops).sort();
  if (reasons.length === 0) return '(no drop counters)\n';
  const width = Math.max(...reasons.map((r) => r.length));
  return reasons.map((r) => `${r.padEnd(width)}  ${drops[r]}`).join('\n') + '\n';
}

/** JSON with bigint counters as decimal strings (JSON numbers lose precision above 2^53). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n';
}
