// SPDX-License-Identifier: Apache-2.0
// High availability (active/backup routers): the shapes every part of src/ha/ and the API share.
// The design: docs/ARCHITECTURE.md, "High availability".

/** A router's role. fault: a link is down or the data plane is not loaded; it hands over. */
export type Role = 'backup' | 'master' | 'fault';

/** The heartbeat paths: one UDP socket on each network. */
export type HaPath = 'public' | 'private';

/** The `ha:` section of the config file, validated (src/config/ha.ts). */
export interface HaConfig {
  /** This router's name (1..32 of [A-Za-z0-9._-]); also the tie-break of equal priorities. */
  node: string;
  /** 1..254: the higher is the preferred master. */
  priority: number;
  /** This router's own (non-floating) addresses the heartbeats are sent from and bound to. */
  local: { public: string; private: string };
  /** The peer router. */
  peer: { name: string; public: string; private: string };
  /** UDP port of heartbeats (default 7707) on both networks; the sync channel is TCP on syncPort. */
  port: number;
  /** TCP port of the connection sync (default 7708), on the private network. */
  syncPort: number;
  /** Milliseconds between heartbeats (default 100, 10..10000). */
  intervalMs: number;
  /** Intervals without a valid heartbeat on any path before the peer is dead (default 3, 2..100). */
  deadIntervals: number;
  /** The shared key (read from key_file: at least 32 bytes); never logged. */
  key: Buffer;
  keyFile: string;
  /** Take the master role back when this router is the preferred one (default true). */
  preempt: boolean;
  /** Wait this long after becoming eligible before preempting (default 0). */
  preemptDelayMs: number;
  /** How long the peer holds off after this daemon says it restarts (default 10000, 0..120000). */
  restartHoldMs: number;
  /** Most a heartbeat's timestamp may differ from this clock (default 5000; routers run NTP). */
  maxSkewMs: number;
  /** The private network's floating NAT gateway addresses (the reals' default route), v4/v6. */
  gateway: string[];
  /** Gratuitous ARP / unsolicited NA on taking over: frames per address, spacing, periodic refresh (0: none). */
  announce: { count: number; spacingMs: number; refreshMs: number };
}

/** One heartbeat path as this router sees it. */
export interface PathStatus {
  path: HaPath;
  /** A valid heartbeat arrived within the dead time. */
  alive: boolean;
  /** Milliseconds since the last valid heartbeat on this path; -1: never. */
  lastHeardMs: number;
}

/** One direction of the connection sync. */
export interface SyncDirection {
  connected: boolean;
  /** The bulk transfer of the whole table finished on this connection. */
  bulkDone: boolean;
  /** Flow records carried since start. */
  records: number;
  /** Milliseconds from a record's emission in the data plane to its install at the receiver (last batch). */
  lagMs: number;
}

export interface HaCounters {
  /** Role changes, by the role entered. */
  transitions: Record<Role, number>;
  heartbeatsSent: number;
  heartbeatsReceived: number;
  /** Dropped heartbeat and sync messages, by reason. */
  rejected: { forged: number; replayed: number; unknownPeer: number; skewed: number; malformed: number };
  announcements: number;
  /** Sync records the data plane could not queue (ring full): those flows wait for the next bulk. */
  syncLost: number;
  /** Synced flows whose service or real this router does not have. */
  syncUnknown: number;
}

export interface HaStatus {
  enabled: boolean;
  node: string;
  role: Role;
  priority: number;
  /** Why the current role was entered. */
  reason: string;
  /** Unix ms when the current role was entered. */
  sinceMs: number;
  /** Held as backup (maintenance), persisted across restarts. */
  hold: boolean;
  /** This router holds the peer's table (bulk received), so it may take the master role. */
  inSync: boolean;
  peer: {
    name: string;
    /** As the peer last said; 'unknown' when never heard or dead. */
    role: Role | 'unknown';
    priority: number;
    alive: boolean;
    paths: PathStatus[];
    /** The peer said it restarts: it is not taken over until this unix ms (0: none). */
    restartHoldUntilMs: number;
  };
  sync: { out: SyncDirection; in: SyncDirection };
  counters: HaCounters;
}

/** A role change, as the watch stream and the log report it. */
export interface HaEvent {
  node: string;
  from: Role;
  to: Role;
  reason: string;
  atMs: number;
}

/** What the API needs of HA (src/ha/manager.ts implements it). */
export interface HaControl {
  status(): HaStatus;
  /** Calls listener on every role change until the returned function is called. */
  watch(listener: (e: HaEvent) => void): () => void;
  /** Hands the master role to the peer now (graceful): HaError E_HA_NOT_MASTER, E_HA_PEER_DOWN. */
  failover(): Promise<void>;
  /** Holds this router as backup (on) or lets it take part again (off); persisted. */
  hold(on: boolean): Promise<void>;
}
