// SPDX-License-Identifier: Apache-2.0
// High-availability status and events (GetHaStatus, WatchHa, HaFailover, SetHaHold) between the
// shapes HA shares (ha/types.ts) and the wire. The client decodes as strictly as the server does
// requests: a field that does not fit is an error naming it, never a silently wrong value.

import { InvalidArgumentError } from '../errors.js';
import type { HaCounters__Output } from '../gen/proto/xlvs/v1/HaCounters.js';
import type { HaEvent__Output } from '../gen/proto/xlvs/v1/HaEvent.js';
import type { HaPath__Output } from '../gen/proto/xlvs/v1/HaPath.js';
import type { HaPathStatus__Output } from '../gen/proto/xlvs/v1/HaPathStatus.js';
import type { HaRole__Output } from '../gen/proto/xlvs/v1/HaRole.js';
import type { HaStatus__Output } from '../gen/proto/xlvs/v1/HaStatus.js';
import type { HaSyncDirection__Output } from '../gen/proto/xlvs/v1/HaSyncDirection.js';
import type { SetHaHoldRequest__Output } from '../gen/proto/xlvs/v1/SetHaHoldRequest.js';
import type { HaCounters, HaEvent, HaPath, HaStatus, PathStatus, Role, SyncDirection } from '../ha/types.js';
import { countFromWire, enumFromWire } from './convert.js';
import type { Received } from './received.js';

const ROLE_TO_WIRE: Record<Role, HaRole__Output> = { backup: 'HA_ROLE_BACKUP', master: 'HA_ROLE_MASTER', fault: 'HA_ROLE_FAULT' };
const PEER_ROLE_TO_WIRE: Record<Role | 'unknown', HaRole__Output> = { ...ROLE_TO_WIRE, unknown: 'HA_ROLE_UNKNOWN' };
const PATH_TO_WIRE: Record<HaPath, HaPath__Output> = { public: 'HA_PATH_PUBLIC', private: 'HA_PATH_PRIVATE' };
const REJECTED_KEYS = [['forged', 'forged'], ['replayed', 'replayed'], ['unknownPeer', 'unknown_peer'], ['skewed', 'skewed'], ['malformed', 'malformed']] as const;

const u64 = (n: number): string => String(Math.max(0, Math.round(n)));

function required<T>(field: string, value: T | null | undefined): T {
  if (value === null || value === undefined) throw new InvalidArgumentError(field, value, 'is required');
  return value;
}

function boolFromWire(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new InvalidArgumentError(field, value, 'must be a bool');
  return value;
}

function stringFromWire(field: string, value: unknown): string {
  if (typeof value !== 'string') throw new InvalidArgumentError(field, value, 'must be a string');
  return value;
}

/** A uint32 as proto-loader hands it over (a number), within `max`. */
function uintFromWire(field: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new InvalidArgumentError(field, value, `must be an integer 0..${max}`);
  }
  return value;
}

/** last_heard_ms: milliseconds, or -1 for never. */
function lastHeardFromWire(field: string, value: unknown): number {
  if (value === '-1') return -1;
  return countFromWire(field, value);
}

// ---- model → wire (server) ----

function pathToWire(p: PathStatus): HaPathStatus__Output {
  return { path: PATH_TO_WIRE[p.path], alive: p.alive, last_heard_ms: String(p.lastHeardMs < 0 ? -1 : Math.round(p.lastHeardMs)) };
}

function syncToWire(d: SyncDirection): HaSyncDirection__Output {
  return { connected: d.connected, bulk_done: d.bulkDone, records: u64(d.records), lag_ms: u64(d.lagMs) };
}

function countersToWire(c: HaCounters): HaCounters__Output {
  return {
    transitions: { backup: u64(c.transitions.backup), master: u64(c.transitions.master), fault: u64(c.transitions.fault) },
    heartbeats_sent: u64(c.heartbeatsSent),
    heartbeats_received: u64(c.heartbeatsReceived),
    rejected: Object.fromEntries(REJECTED_KEYS.map(([model, wire]) => [wire, u64(c.rejected[model])])) as unknown as HaCounters__Output['rejected'],
    announcements: u64(c.announcements),
    sync_lost: u64(c.syncLost),
    sync_unknown: u64(c.syncUnknown),
  };
}

export function haStatusToWire(s: HaStatus): HaStatus__Output {
  return {
    enabled: s.enabled,
    node: s.node,
    role: ROLE_TO_WIRE[s.role],
    priority: s.priority,
    reason: s.reason,
    since_ms: u64(s.sinceMs),
    hold: s.hold,
    in_sync: s.inSync,
    peer: {
      name: s.peer.name,
      role: PEER_ROLE_TO_WIRE[s.peer.role],
      priority: s.peer.priority,
      alive: s.peer.alive,
      paths: s.peer.paths.map(pathToWire),
      restart_hold_until_ms: u64(s.peer.restartHoldUntilMs),
    },
    sync: { out: syncToWire(s.sync.out), in: syncToWire(s.sync.in) },
    counters: countersToWire(s.counters),
  };
}

export function haEventToWire(e: HaEvent): HaEvent__Output {
  return { node: e.node, from: ROLE_TO_WIRE[e.from], to: ROLE_TO_WIRE[e.to], reason: e.reason, at_ms: u64(e.atMs) };
}

/** SetHaHold's `on`: required, so that a client that forgot it never releases a hold. */
export function setHaHoldFromWire(req: Received<SetHaHoldRequest__Output>): boolean {
  return boolFromWire('on', required('on', req.on));
}

// ---- wire → model (client) ----

function pathFromWire(w: Received<HaPathStatus__Output>, field: string): PathStatus {
  return {
    path: enumFromWire(`${field}.path`, w.path, PATH_TO_WIRE),
    alive: boolFromWire(`${field}.alive`, w.alive),
    lastHeardMs: lastHeardFromWire(`${field}.last_heard_ms`, w.last_heard_ms),
  };
}

function syncFromWire(w: Received<HaSyncDirection__Output> | null | undefined, field: string): SyncDirection {
  const d = required(field, w);
  return {
    connected: boolFromWire(`${field}.connected`, d.connected),
    bulkDone: boolFromWire(`${field}.bulk_done`, d.bulk_done),
    records: countFromWire(`${field}.records`, d.records),
    lagMs: countFromWire(`${field}.lag_ms`, d.lag_ms),
  };
}

function countersFromWire(w: Received<HaCounters__Output> | null | undefined, field: string): HaCounters {
  const c = required(field, w);
  const t = required(`${field}.transitions`, c.transitions);
  const r = required(`${field}.rejected`, c.rejected);
  return {
    transitions: {
      backup: countFromWire(`${field}.transitions.backup`, t.backup),
      master: countFromWire(`${field}.transitions.master`, t.master),
      fault: countFromWire(`${field}.transitions.fault`, t.fault),
    },
    heartbeatsSent: countFromWire(`${field}.heartbeats_sent`, c.heartbeats_sent),
    heartbeatsReceived: countFromWire(`${field}.heartbeats_received`, c.heartbeats_received),
    rejected: Object.fromEntries(REJECTED_KEYS.map(([model, wire]) => [model, countFromWire(`${field}.rejected.${wire}`, r[wire])])) as HaCounters['rejected'],
    announcements: countFromWire(`${field}.announcements`, c.announcements),
    syncLost: countFromWire(`${field}.sync_lost`, c.sync_lost),
    syncUnknown: countFromWire(`${field}.sync_unknown`, c.sync_unknown),
  };
}

export function haStatusFromWire(w: Received<HaStatus__Output> | null | undefined, field = 'status'): HaStatus {
  const s = required(field, w);
  const p = required(`${field}.peer`, s.peer);
  const sync = required(`${field}.sync`, s.sync);
  return {
    enabled: boolFromWire(`${field}.enabled`, s.enabled),
    node: stringFromWire(`${field}.node`, s.node),
    role: enumFromWire(`${field}.role`, s.role, ROLE_TO_WIRE),
    priority: uintFromWire(`${field}.priority`, s.priority, 255),
    reason: stringFromWire(`${field}.reason`, s.reason),
    sinceMs: countFromWire(`${field}.since_ms`, s.since_ms),
    hold: boolFromWire(`${field}.hold`, s.hold),
    inSync: boolFromWire(`${field}.in_sync`, s.in_sync),
    peer: {
      name: stringFromWire(`${field}.peer.name`, p.name),
      role: enumFromWire(`${field}.peer.role`, p.role, PEER_ROLE_TO_WIRE),
      priority: uintFromWire(`${field}.peer.priority`, p.priority, 255),
      alive: boolFromWire(`${field}.peer.alive`, p.alive),
      paths: p.paths.map((x, i) => pathFromWire(x, `${field}.peer.paths[${i}]`)),
      restartHoldUntilMs: countFromWire(`${field}.peer.restart_hold_until_ms`, p.restart_hold_until_ms),
    },
    sync: { out: syncFromWire(sync.out, `${field}.sync.out`), in: syncFromWire(sync.in, `${field}.sync.in`) },
    counters: countersFromWire(s.counters, `${field}.counters`),
  };
}

export function haEventFromWire(w: Received<HaEvent__Output>): HaEvent {
  return {
    node: stringFromWire('node', w.node),
    from: enumFromWire('from', w.from, ROLE_TO_WIRE),
    to: enumFromWire('to', w.to, ROLE_TO_WIRE),
    reason: stringFromWire('reason', w.reason),
    atMs: countFromWire('at_ms', w.at_ms),
  };
}
