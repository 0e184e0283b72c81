// SPDX-License-Identifier: Apache-2.0
// Human and JSON renderings of API results for xlvsctl. Pure functions, so the exact output
// is unit-tested without a daemon.

import { joinHostPort, maxPrefix } from '../model/ip.js';
import {
  DEFAULT_MH_TABLE_SIZE, HASH_SCHEDULERS,
  type Counters, type ForwardMethod, type Frontend, type RealStatus, type ServiceStatus,
} from '../model/types.js';

/** What the real lines show: ipvsadm -Ln, -Ln --stats, -Ln --thresholds. */
export type TableView = 'conns' | 'stats' | 'thresholds';

/** ipvsadm's names for the forwarding methods ("FullNat" as the full-NAT patches print it). */
const FORWARD_NAME: Record<ForwardMethod, string> = { nat: 'Masq', dr: 'Route', tun: 'Tunnel', fullnat: 'FullNat' };

// ipvsadm's column widths; the address column grows for IPv6.
const MIN_ADDR_WIDTH = 28;

function frontendText(f: Frontend): string {
  return `${f.protocol.toUpperCase().padEnd(4)} ${joinHostPort(f.vip, f.port === 0 ? '*' : f.port)}`;
}

/** "wlc", "mh (mh-fallback,mh-port) persistent 300 mask 24", as ipvsadm prints a service. */
function serviceFlags(s: ServiceStatus): string {
  let text = s.scheduler;
  if (HASH_SCHEDULERS.includes(s.scheduler)) {
    const flags = [s.hash.fallback ? `${s.scheduler}-fallback` : '', s.hash.port ? `${s.scheduler}-port` : ''].filter(Boolean);
    if (flags.length > 0) text += ` (${flags.join(',')})`;
    if (s.scheduler === 'mh' && s.mh_table_size !== DEFAULT_MH_TABLE_SIZE) text += ` table ${s.mh_table_size}`;
  }
  if (s.persistence !== undefined) {
    text += ` persistent ${s.persistence.timeout}`;
    // Like ipvsadm, the mask is shown only when it groups clients (not the full prefix).
    if (s.persistence.netmask !== maxPrefix(s.family)) text += ` mask ${s.persistence.netmask}`;
  }
  return text;
}

const STAT_KEYS: (keyof Counters)[] = ['conns', 'packets_in', 'packets_out', 'bytes_in', 'bytes_out'];

function realColumns(r: RealStatus, view: TableView): string[] {
  switch (view) {
    case 'conns':
      return [FORWARD_NAME[r.method], String(r.weight), String(r.active_conns), String(r.inactive_conns), healthText(r), String(r.effective_weight)];
    case 'thresholds':
      return [String(r.upper_threshold), String(r.lower_threshold), String(r.active_conns), String(r.inactive_conns)];
    case 'stats':
      return STAT_KEYS.map((k) => String(r.counters[k]));
  }
}

/** "up", "down", "-" without a check, "sorry" for the sorry server (which is never checked). */
function healthText(r: RealStatus): string {
  if (r.sorry) return 'sorry';
  return r.health === 'unchecked' ? '-' : r.health;
}

// Health and EffWeight come after ipvsadm's four columns, so scripts reading those by position
// keep working; EffWeight is what the data plane runs (health, slow start, sorry server applied).
const HEADERS: Record<TableView, string[]> = {
  conns: ['Forward', 'Weight', 'ActiveConn', 'InActConn', 'Health', 'EffWeight'],
  thresholds: ['Uthreshold', 'Lthreshold', 'ActiveConn', 'InActConn'],
  stats: ['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'],
};

/**
 * An ipvsadm -Ln style listing: one line per service (its first frontend, scheduler, flags),
 * one "  +" line per further frontend of a port group, one "  ->" line per real.
 *
 *   Prot LocalAddress:Port Scheduler Flags
 *     -> RemoteAddress:Port           Forward Weight ActiveConn InActConn Health EffWeight
 *   TCP  203.0.113.100:80 wlc persistent 300 mask 24
 *     +  TCP  203.0.113.100:443
 *     -> 10.77.0.11:0                 Masq    1      0          0         up     1
 *
 * In the stats view the service line carries the service's counters in the same columns.
 */
export function formatServiceTable(services: readonly ServiceStatus[], view: TableView = 'conns'): string {
  const reals = services.flatMap((s) => s.reals);
  const serviceHead = (s: ServiceStatus) => `${frontendText(s.frontends[0] ?? s)} ${serviceFlags(s)}`;
  const addrWidth = Math.max(MIN_ADDR_WIDTH, ...reals.map((r) => joinHostPort(r.address, r.port).length));
  const headers = HEADERS[view];
  // Column widths: ipvsadm's (header width + 1), grown when a value is wider.
  const rows = reals.map((r) => realColumns(r, view));
  if (view === 'stats') rows.push(...services.map((s) => STAT_KEYS.map((k) => String(s.counters[k]))));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const cols = (values: string[]): string =>
    view === 'stats'
      ? values.map((v, i) => v.padStart(widths[i]!)).join(' ')
      : values.map((v, i) => v.padEnd(widths[i]!)).join(' ');
  const lines: string[] = [];
  if (view === 'stats') {
    const headWidth = Math.max(addrWidth + 5, ...services.map((s) => frontendText(s.frontends[0] ?? s).length));
    lines.push(`${'Prot LocalAddress:Port'.padEnd(headWidth)} ${cols(headers)}`);
    lines.push(`${'  -> RemoteAddress:Port'.padEnd(headWidth)}`);
    for (const s of services) {
      lines.push(`${frontendText(s.frontends[0] ?? s).padEnd(headWidth)} ${cols(STAT_KEYS.map((k) => String(s.counters[k])))}`);
      for (const f of s.frontends.slice(1)) lines.push(`  +  ${frontendText(f)}`);
      for (const r of s.reals) lines.push(`  -> ${joinHostPort(r.address, r.port).padEnd(headWidth - 5)} ${cols(realColumns(r, view))}`);
    }
  } else {
    lines.push('Prot LocalAddress:Port Scheduler Flags');
    lines.push(`  -> ${'RemoteAddress:Port'.padEnd(addrWidth)} ${cols(headers)}`);
    for (const s of services) {
      lines.push(serviceHead(s));
      for (const f of s.frontends.slice(1)) lines.push(`  +  ${frontendText(f)}`);
      for (const r of s.reals) lines.push(`  -> ${joinHostPort(r.address, r.port).padEnd(addrWidth)} ${cols(realColumns(r, view))}`);
    }
  }
  return lines.map((l) => l.trimEnd()).join('\n') + '\n';
}

/** Drop counters, one "reason  count" line each, sorted by reason for stable output. */
export function formatDrops(drops: Readonly<Record<string, bigint>>): string {
  const reasons = Object.keys(drops).sort();
  if (reasons.length === 0) return '(no drop counters)\n';
  const width = Math.max(...reasons.map((r) => r.length));
  return reasons.map((r) => `${r.padEnd(width)}  ${drops[r]}`).join('\n') + '\n';
}

/** bigint counters as decimal strings (JSON numbers lose precision above 2^53). */
const bigintAsString = (_key: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);

/** JSON with bigint counters as decimal strings, indented for people. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, bigintAsString, 2) + '\n';
}

/** The same as one line, for streams read a line at a time (`xlvsctl health watch --json`). */
export function toJsonLine(value: unknown): string {
  return JSON.stringify(value, bigintAsString) + '\n';
}
