// SPDX-License-Identifier: Apache-2.0
// Human renderings of ListHealth and WatchHealth for `xlvsctl health` and `xlvsctl health watch`.
// Pure functions with the clock passed in, so the exact output is unit-tested without a daemon.

import type { HealthEvent, HealthReport, TargetStatus } from '../health/report.js';
import { joinHostPort } from '../model/ip.js';

const CHECK_HEADERS = ['SERVICE', 'REAL', 'TYPE', 'PROBE', 'CHECK', 'STATUS', 'SINCE', 'OK/FAIL', 'LAST'];
const SERVICE_HEADERS = ['SERVICE', 'HEALTHY/QUORUM', 'SORRY'];

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
function columns(rows: readonly string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** "12s ago", "3m05s ago", "2h07m ago", "4d03h ago": precise where it matters, short where not. */
export function formatAgo(since: number, now: number): string {
  // Daemon and CLI share a clock; a few ms ahead is rounding, not the future.
  const s = Math.max(0, Math.floor((now - since) / 1000));
  const two = (n: number): string => String(n).padStart(2, '0');
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m ago`;
  return `${Math.floor(s / 86400)}d${two(Math.floor(s / 3600) % 24)}h ago`;
}

/** Probe times keep one decimal: sub-millisecond loopback probes are not all "0 ms". */
function ms(value: number): string {
  return `${Number(value.toFixed(1))} ms`;
}

function checkRow(c: TargetStatus, now: number): string[] {
  const last = c.last === undefined ? '-' : `${c.last.ok ? 'ok' : 'failed'} (${ms(c.last.ms)}): ${c.last.reason}`;
  return [
    c.service,
    c.real,
    c.type,
    // Marked when the probes do not go as configured; the reason follows the table.
    c.degraded === undefined ? c.method : `${c.method}!`,
    joinHostPort(c.address, c.port),
    // An exec check's reported weight replaces the configured one: show it with the verdict.
    c.weight === undefined ? c.status : `${c.status} (weight ${c.weight})`,
    c.since === null ? 'since start' : formatAgo(c.since, now),
    `${c.counters.probes_ok}/${c.counters.probes_failed}`,
    last,
  ];
}

/** One line per distinct reason checks do not probe as configured, with how many do so. */
function degradedNotes(checks: readonly TargetStatus[]): string[] {
  const count = new Map<string, number>();
  for (const c of checks) if (c.degraded !== undefined) count.set(c.degraded, (count.get(c.degraded) ?? 0) + 1);
  return [...count].map(([reason, n]) => `! ${n} ${n === 1 ? 'check does' : 'checks do'} not probe as configured: ${reason}`);
}

/**
 * `xlvsctl health`: one line per check (PROBE: how its probes go, `!` when not as configured,
 * the reason below the table), then one per service (healthy weight against quorum, sorry
 * server active), then the totals.
 *
 *   SERVICE               REAL           TYPE  PROBE     CHECK            STATUS         SINCE        OK/FAIL  LAST
 *   tcp/203.0.113.100:80  10.77.0.11:80  exec  exec      10.77.0.50:8080  up (weight 5)  12s ago      9/2      ok (12.5 ms): exit 7: weight 5
 *   tcp/203.0.113.100:80  10.77.0.12:80  tcp   connect!  10.77.0.12:80    down           since start  0/0      -
 *   ! 1 check does not probe as configured: not SYN: packet_socket: ...
 *
 *   SERVICE               HEALTHY/QUORUM  SORRY
 *   tcp/203.0.113.100:80  5/2             no
 *
 *   2 checks: 1 up, 1 down; probes: 12 started, 9 ok, 2 failed, 1 timed out, 0 skipped, 1 in flight; 3 transitions
 */
export function formatHealthTable(report: HealthReport, now: number): string {
  const t = report.totals;
  const lines: string[] = [];
  if (report.checks.length === 0) lines.push('(no health checks)');
  else lines.push(...columns([CHECK_HEADERS, ...report.checks.map((c) => checkRow(c, now))]), ...degradedNotes(report.checks));
  if (report.services.length > 0) {
    lines.push('');
    lines.push(...columns([
      SERVICE_HEADERS,
      ...report.services.map((s) => [s.service, `${s.health.healthyWeight}/${s.health.quorum}`, s.health.sorryActive ? 'yes' : 'no']),
    ]));
  }
  lines.push('');
  lines.push(
    `${t.targets} checks: ${t.up} up, ${t.down} down; probes: ${t.probes_started} started, ${t.probes_ok} ok, ` +
      `${t.probes_failed} failed, ${t.timed_out} timed out, ${t.skipped} skipped, ${t.in_flight} in flight; ` +
      `${t.transitions} transitions`,
  );
  return lines.join('\n') + '\n';
}

/**
 * One `xlvsctl health watch` line: time, service, real, check type, from->to, the weight an exec
 * check reported (if any), then the reason last because it is free text.
 *
 *   2026-11-18T11:06:42.000Z tcp/203.0.113.100:80 10.77.0.12:80 http up->down: status 503 not in 200-299
 *   2026-11-18T11:06:43.250Z tcp/203.0.113.100:80 10.77.0.12:80 exec down->up weight 5: exit 7: weight 5
 */
export function formatHealthEvent(e: HealthEvent): string {
  const weight = e.weight === undefined ? '' : ` weight ${e.weight}`;
  return `${new Date(e.at).toISOString()} ${e.service} ${e.real} ${e.type} ${e.from}->${e.to}${weight}: ${e.reason}\n`;
}
