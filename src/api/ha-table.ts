// SPDX-License-Identifier: Apache-2.0
// Human renderings of GetHaStatus and WatchHa for `xlvsctl ha` and `xlvsctl ha watch`. Pure
// functions with the clock passed in, so the exact output is unit-tested without a daemon.

import type { HaEvent, HaStatus, SyncDirection } from '../ha/types.js';
import { formatAgo } from './health-table.js';

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
function columns(rows: readonly string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

function syncRow(dir: string, d: SyncDirection): string[] {
  return [dir, d.connected ? 'connected' : 'down', d.bulkDone ? 'done' : 'pending', String(d.records), `${d.lagMs} ms`];
}

/**
 * `xlvsctl ha`: this router and the peer, the heartbeat paths, the sync both ways, then hold,
 * sync state and counters.
 *
 *   ROUTER     ROLE    PRIORITY  SINCE    REASON
 *   r1 (this)  master  200       12s ago  peer dead
 *   r2 (peer)  backup  100       -        alive
 *
 *   PATH     PEER  LAST HEARD
 *   public   up    40 ms ago
 *   private  down  never
 *
 *   SYNC  STATE      BULK  RECORDS  LAG
 *   out   connected  done  1200     3 ms
 *   in    connected  done  800      2 ms
 *
 *   hold: off; in sync: yes; peer restart hold: none
 *   transitions: 2 backup, 1 master, 0 fault; heartbeats: 1000 sent, 998 received; rejected: ...
 */
export function formatHaStatus(s: HaStatus, now: number): string {
  const p = s.peer;
  const lines = columns([
    ['ROUTER', 'ROLE', 'PRIORITY', 'SINCE', 'REASON'],
    [`${s.node} (this)`, s.role, String(s.priority), formatAgo(s.sinceMs, now), s.reason],
    [`${p.name} (peer)`, p.role, String(p.priority), '-', p.alive ? 'alive' : 'dead'],
  ]);
  lines.push('');
  if (p.paths.length === 0) lines.push('(no heartbeat paths)');
  else {
    lines.push(...columns([
      ['PATH', 'PEER', 'LAST HEARD'],
      ...p.paths.map((x) => [x.path, x.alive ? 'up' : 'down', x.lastHeardMs < 0 ? 'never' : `${x.lastHeardMs} ms ago`]),
    ]));
  }
  lines.push('');
  lines.push(...columns([['SYNC', 'STATE', 'BULK', 'RECORDS', 'LAG'], syncRow('out', s.sync.out), syncRow('in', s.sync.in)]));
  lines.push('');
  const restart = p.restartHoldUntilMs > now ? `until ${new Date(p.restartHoldUntilMs).toISOString()}` : 'none';
  lines.push(`${s.enabled ? '' : 'disabled; '}hold: ${s.hold ? 'on' : 'off'}; in sync: ${yesNo(s.inSync)}; peer restart hold: ${restart}`);
  const c = s.counters;
  const r = c.rejected;
  lines.push(
    `transitions: ${c.transitions.backup} backup, ${c.transitions.master} master, ${c.transitions.fault} fault; ` +
      `heartbeats: ${c.heartbeatsSent} sent, ${c.heartbeatsReceived} received; ` +
      `rejected: ${r.forged} forged, ${r.replayed} replayed, ${r.unknownPeer} unknown peer, ${r.skewed} skewed, ${r.malformed} malformed; ` +
      `announcements: ${c.announcements}; sync: ${c.syncLost} lost, ${c.syncUnknown} unknown`,
  );
  return lines.join('\n') + '\n';
}

/**
 * One `xlvsctl ha watch` line: time, node, from->to, then the reason last because it is free
 * text. The first line of a watch is where it starts (from = to: the role and when it was entered).
 *
 *   2026-12-07T12:00:00.000Z r1 backup (current): start
 *   2026-12-07T12:00:01.250Z r1 backup->master: peer r2 dead
 */
export function formatHaEvent(e: HaEvent): string {
  const change = e.from === e.to ? `${e.to} (current)` : `${e.from}->${e.to}`;
  return `${new Date(e.atMs).toISOString()} ${e.node} ${change}: ${e.reason}\n`;
}
