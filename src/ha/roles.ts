// SPDX-License-Identifier: Apache-2.0
// The HA role state machine (the design's "Roles"): pure, fed with verified heartbeats, ticks and
// the daemon's own conditions (fault, hold, in sync, failover); every input answers with the role
// change it caused, if any, and whether the master must announce its addresses again.
//
// Precedence = (effective priority, name): the higher priority wins, a tie goes to the greater
// name. The rules, first match wins, checked on every input:
//   1. fault → fault;  2. hold → backup;
//   3. the peer is gone (silent on both paths for the dead time and not within its RESTARTING
//      hold; said GOODBYE or YIELD; in fault; holding) → master;
//   4. peer master, me master (split brain) → the lower precedence goes backup; the winner
//      announces again on the loser's master advert, and on any message after silence on both
//      paths (the loser may have stepped down already when its first message arrives);
//   5. peer master, me backup → master only on preempt: preempt on, my priority > the peer's,
//      in sync, not yielded, and the preempt delay passed since all that first held;
//   6. both backup → the higher precedence becomes master (a yielder waits one dead time first).
// Start: backup, taking master for silence only one dead time after start, or master at once when
// the lease was still valid (a restart). nowMs is any one clock, the same for every call (unix
// ms, so that statuses can show it).

import { HaError } from '../errors.js';
import type { Heartbeat } from './heartbeat.js';
import type { HaPath, HaStatus, PathStatus, Role } from './types.js';

export interface RoleMachineOptions {
  node: string;
  /** Configured priority 1..254 (effective: 0 in fault or hold). */
  priority: number;
  peer: string;
  intervalMs: number;
  deadIntervals: number;
  preempt: boolean;
  preemptDelayMs: number;
  /** The lease was still valid at start (a restart): master at once. */
  resumeMaster?: boolean;
  /**
   * The longest RESTARTING hold honoured (default 120000, restart_hold_ms' most): a peer's
   * holdMs (a u32) must not keep this router from taking over for weeks.
   */
  maxRestartHoldMs?: number;
  /** Held as backup from the start (hold is persisted across restarts). */
  hold?: boolean;
  nowMs: number;
}

export interface RoleTransition {
  from: Role;
  to: Role;
  reason: string;
}

/** What an input changed: a role transition, and whether the master must re-announce (GARP/NA). */
export interface RoleUpdate {
  transition?: RoleTransition;
  reannounce: boolean;
}

export const HA_PATHS: readonly HaPath[] = ['public', 'private'];

interface PeerState {
  /** Last valid message per path (nowMs); undefined: never. */
  heard: Record<HaPath, number | undefined>;
  role: Role | 'unknown';
  priority: number;
  hold: boolean;
  /** Said GOODBYE / YIELD, until its next ADVERT. */
  goodbye: boolean;
  yielded: boolean;
  /** RESTARTING: not taken over for silence before this (nowMs); 0: none. */
  restartHoldUntil: number;
}

export const DEFAULT_MAX_RESTART_HOLD_MS = 120_000;

const NONE: RoleUpdate = Object.freeze({ reannounce: false });

export class RoleMachine {
  private role: Role;
  private reason: string;
  private sinceMs: number;
  private fault: string | undefined;
  private hold: boolean;
  private inSync = false;
  /** This router handed the master role over (failover): it does not preempt, sticky. */
  private yielded = false;
  private yieldedAt = 0;
  /** When every preempt condition but the delay first held; undefined: they do not. */
  private eligibleSince: number | undefined;
  private readonly startMs: number;
  private readonly deadMs: number;
  private readonly peer: PeerState = {
    heard: { public: undefined, private: undefined }, role: 'unknown', priority: 0, hold: false,
    goodbye: false, yielded: false, restartHoldUntil: 0,
  };

  constructor(private readonly opts: RoleMachineOptions) {
    this.startMs = opts.nowMs;
    this.sinceMs = opts.nowMs;
    this.deadMs = opts.intervalMs * opts.deadIntervals;
    this.hold = opts.hold ?? false;
    const resume = opts.resumeMaster === true && !this.hold;
    this.role = resume ? 'master' : 'backup';
    this.reason = resume ? 'resumed master: the lease was still valid at start' : this.hold ? 'held as backup' : 'started';
  }

  get current(): Role {
    return this.role;
  }

  /** The priority this router advertises: 0 in fault or hold. */
  effectivePriority(): number {
    return this.fault !== undefined || this.hold ? 0 : this.opts.priority;
  }

  /** Time passes: silence, restart holds and the preempt delay are judged. */
  tick(nowMs: number): RoleUpdate {
    return this.decide(nowMs, false);
  }

  /** A verified heartbeat from the peer, on `path`. */
  heard(m: Heartbeat, path: HaPath, nowMs: number): RoleUpdate {
    const p = this.peer;
    // Heard again after silence on both paths (a split brain healed, or the first message): while
    // this router could not hear it, the peer may have claimed the floating addresses, and the
    // neighbours may still point at it even though its adverts now say backup (it can hear this
    // master's advert first and step down before it says master here): a master announces again.
    const back = !HA_PATHS.some((x) => this.pathAlive(x, nowMs));
    p.heard[path] = nowMs;
    p.role = m.role;
    p.priority = m.priority;
    p.hold = m.hold;
    p.goodbye = m.type === 'goodbye';
    p.yielded = m.type === 'yield';
    if (m.type === 'restarting') p.restartHoldUntil = nowMs + Math.min(m.holdMs, this.opts.maxRestartHoldMs ?? DEFAULT_MAX_RESTART_HOLD_MS);
    else if (m.type === 'advert') p.restartHoldUntil = 0; // its adverts resumed: back to normal
    const u = this.decide(nowMs, m.type === 'advert' && m.role === 'master');
    if (back && u.transition === undefined && this.role === 'master') return { reannounce: true };
    return u;
  }

  /** A link is down or the data plane is not loaded (reason), or no longer (undefined). */
  setFault(reason: string | undefined, nowMs: number): RoleUpdate {
    this.fault = reason;
    return this.decide(nowMs, false);
  }

  /** Held as backup (maintenance) or not; either way a past failover's yield is forgotten. */
  setHold(on: boolean, nowMs: number): RoleUpdate {
    this.hold = on;
    this.yielded = false;
    return this.decide(nowMs, false);
  }

  /** This router holds the peer's table (or the peer's bulk to it is done): it may preempt. */
  setInSync(on: boolean, nowMs: number): RoleUpdate {
    this.inSync = on;
    return this.decide(nowMs, false);
  }

  /**
   * Hands the master role to the peer (the caller sends YIELD): backup, and sticky "yielded".
   * HaError E_HA_NOT_MASTER when not master, E_HA_PEER_DOWN when the peer could not take it.
   */
  failover(nowMs: number): RoleUpdate {
    if (this.role !== 'master') throw new HaError('E_HA_NOT_MASTER', `failover: ${this.opts.node} is ${this.role}, not master`);
    const gone = this.peerGone(nowMs);
    if (gone !== undefined) throw new HaError('E_HA_PEER_DOWN', `failover: nobody to hand over to (${gone})`);
    this.yielded = true;
    this.yieldedAt = nowMs;
    return this.enter('backup', `failover: handed the master role to peer ${this.opts.peer}`, nowMs);
  }

  /**
   * When silence alone makes the peer gone (ms, the clock of nowMs): the last message on either
   * path (or the start) plus the dead time, or the end of a restart hold if later. The manager
   * times a tick for then, so detection waits no longer than the dead time.
   */
  silenceDeadline(): number {
    const p = this.peer;
    const last = Math.max(p.heard.public ?? -Infinity, p.heard.private ?? -Infinity);
    const from = last === -Infinity ? this.startMs : last;
    return Math.max(from + this.deadMs, p.restartHoldUntil);
  }

  /** Whether the peer is alive: a valid message on either path within the dead time. */
  peerAlive(nowMs: number): boolean {
    return HA_PATHS.some((path) => this.pathAlive(path, nowMs)) && !this.peer.goodbye;
  }

  paths(nowMs: number): PathStatus[] {
    return HA_PATHS.map((path) => {
      const at = this.peer.heard[path];
      return { path, alive: this.pathAlive(path, nowMs), lastHeardMs: at === undefined ? -1 : nowMs - at };
    });
  }

  /** The role part of HaStatus (the manager adds sync, counters and `enabled`). */
  status(nowMs: number): Pick<HaStatus, 'node' | 'role' | 'priority' | 'reason' | 'sinceMs' | 'hold' | 'inSync' | 'peer'> {
    const alive = this.peerAlive(nowMs);
    const p = this.peer;
    return {
      node: this.opts.node, role: this.role, priority: this.effectivePriority(), reason: this.reason,
      sinceMs: this.sinceMs, hold: this.hold, inSync: this.inSync,
      peer: {
        name: this.opts.peer, role: alive ? p.role : 'unknown', priority: p.priority, alive, paths: this.paths(nowMs),
        restartHoldUntilMs: p.restartHoldUntil > nowMs ? p.restartHoldUntil : 0,
      },
    };
  }

  private pathAlive(path: HaPath, nowMs: number): boolean {
    const at = this.peer.heard[path];
    return at !== undefined && nowMs - at < this.deadMs;
  }

  /** Why the peer is no master to defer to, or undefined when it is there. */
  private peerGone(nowMs: number): string | undefined {
    const p = this.peer;
    const name = this.opts.peer;
    if (p.goodbye) return `peer ${name} said goodbye`;
    if (p.yielded) return `peer ${name} handed the master role over`;
    const last = Math.max(p.heard.public ?? -Infinity, p.heard.private ?? -Infinity);
    const silentFrom = last === -Infinity ? this.startMs : last;
    if (nowMs - silentFrom >= this.deadMs && nowMs >= p.restartHoldUntil) {
      const since = last === -Infinity ? ' since start' : '';
      const restart = p.restartHoldUntil > 0 ? ' (its restart hold ran out)' : '';
      return `peer ${name} silent for ${nowMs - silentFrom} ms on both paths${since}${restart}`;
    }
    if (nowMs - silentFrom >= this.deadMs) return undefined; // silent, but within its restart hold
    if (p.role === 'fault') return `peer ${name} is in fault`;
    if (p.hold) return `peer ${name} is held as backup`;
    return undefined;
  }

  /** (priority, name) of this router against the peer's: > 0 when this one wins. */
  private precedence(): number {
    const mine = this.opts.priority;
    if (mine !== this.peer.priority) return mine - this.peer.priority;
    return this.opts.node > this.opts.peer ? 1 : -1;
  }

  private decide(nowMs: number, heardMasterAdvert: boolean): RoleUpdate {
    const name = this.opts.peer;
    if (this.fault !== undefined) return this.enter('fault', `fault: ${this.fault}`, nowMs);
    if (this.hold) return this.enter('backup', 'held as backup', nowMs);
    const gone = this.peerGone(nowMs);
    if (gone !== undefined) {
      this.yielded = false; // the peer failed: a past failover no longer binds
      this.eligibleSince = undefined;
      return this.enter('master', gone, nowMs);
    }
    const p = this.peer;
    if (p.role === 'master') {
      if (this.role === 'master') {
        if (this.precedence() < 0) return this.enter('backup', `split brain: peer ${name} is master with higher precedence`, nowMs);
        // The winner: the loser's advert says master, so its ARP/ND may have moved; announce again.
        return { reannounce: heardMasterAdvert };
      }
      const eligible = this.opts.preempt && !this.yielded && this.inSync && this.opts.priority > p.priority;
      if (!eligible) {
        this.eligibleSince = undefined;
        return this.enter('backup', `peer ${name} is master`, nowMs);
      }
      this.eligibleSince ??= nowMs;
      if (nowMs - this.eligibleSince >= this.opts.preemptDelayMs) {
        this.eligibleSince = undefined;
        return this.enter('master', `preempt: priority ${this.opts.priority} > peer ${name}'s ${p.priority}`, nowMs);
      }
      return this.enter('backup', `peer ${name} is master`, nowMs);
    }
    this.eligibleSince = undefined;
    // A yielder defers to a backup peer for one dead time only, while the peer takes the YIELD
    // in (its adverts sent before still say backup): a peer that stays backup (it restarted and
    // forgot the YIELD, say) must not leave the pair without a master.
    const deferring = this.yielded && nowMs - this.yieldedAt < this.deadMs;
    if (p.role === 'backup' && this.role !== 'master' && !deferring && this.precedence() > 0) {
      return this.enter('master', `peer ${name} is backup with lower precedence`, nowMs);
    }
    // Peer backup and me master, or me yielded, or not heard yet (listening one dead time).
    if (this.role === 'fault') return this.enter('backup', 'fault cleared', nowMs);
    return NONE;
  }

  /** Enters `to` (nothing when already there). */
  private enter(to: Role, reason: string, nowMs: number): RoleUpdate {
    if (to === this.role) return NONE;
    const transition = { from: this.role, to, reason };
    this.role = to;
    this.reason = reason;
    this.sinceMs = nowMs;
    return { transition, reannounce: false };
  }
}
