// SPDX-License-Identifier: Apache-2.0
// High availability's composition: the heartbeat on both networks, the role machine, the lease
// the data plane checks before it answers ARP/ND for a floating address, the announcements, the
// connection sync both ways, the held state; and the HaControl the API serves.
//
// The failover path is: a heartbeat (or its absence, timed to the millisecond by a timer re-armed
// at every valid message) -> Roles -> a map write (the lease) and one burst of gratuitous ARP /
// unsolicited NA from the raw-frame sender. Nothing on it forks or waits on another process.
//
// Stopping: stop('restart') (SIGTERM: an upgrade, systemctl restart) keeps the role: a master
// writes a lease of restartHoldMs and tells the peer RESTARTING, so the data plane keeps answering
// and forwarding while the daemon is away, and the peer holds off that long; the next start finds
// the lease valid and resumes master. stop('leave') (SIGUSR2, or a teardown) says GOODBYE and drops
// the lease: the peer takes over at once.

import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { HaConfig, HaControl, HaCounters, HaEvent, HaPath, HaStatus } from './types.js';
import { HeartbeatLink } from './heartbeat-link.js';
import { HaStateFile } from './ha-state.js';
import { encodeHeartbeat, HeartbeatVerifier, type Heartbeat, type HeartbeatType } from './heartbeat.js';
import { RoleMachine, type RoleUpdate } from './roles.js';
import { dropLease, setFloating, setHaFlags, writeLease, leaseValid } from './lease.js';
import { XLVS_HA_F_ENABLED, XLVS_HA_F_SYNC } from '../gen/abi.js';
import type { Maps } from '../dataplane/handles.js';
import type { Announcer } from './announce.js';
import type { SyncChannel } from './sync-channel.js';

export interface HaManagerOptions {
  config: HaConfig;
  maps: Maps;
  stateFile: HaStateFile;
  log: Logger;
  /** Every floating address, by the interface it is on (VIPs: public; gateway, local addresses: private). */
  floating: () => { public: string[]; private: string[] };
  /** Announcers of the two interfaces. */
  announcers: { public: Announcer; private: Announcer };
  /** Both interfaces up with carrier and the data plane attached; else why not (fault). */
  faultCheck: () => string | undefined;
  /** The connection sync, both directions. */
  sync: SyncChannel;
}

/**
 * The role machine's clock: unix ms at this process's start plus monotonic time since. It never
 * steps with the wall clock (an NTP correction must not make the peer look dead or alive), and
 * still reads as unix ms in the status (whole ms, as the rest of HA's times). Heartbeats' own timestamps (the skew window) and the
 * epoch are wall-clock: they are compared with the peer's clock.
 */
export const monoMs = (): number => Math.floor(performance.timeOrigin + performance.now());

export class HaManager implements HaControl {
  private readonly events = new EventEmitter();
  private readonly cfg: HaConfig;
  private readonly roles: RoleMachine;
  private link: HeartbeatLink | undefined;
  private timer: NodeJS.Timeout | undefined;
  private deadTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly epoch = Date.now();
  /** Each path's own sequence (the receiver judges replays per path). */
  private readonly seq: Record<HaPath, number> = { public: 0, private: 0 };
  private stopped = false;
  private readonly verifier: HeartbeatVerifier;
  readonly counters: HaCounters = {
    transitions: { backup: 0, master: 0, fault: 0 },
    heartbeatsSent: 0,
    heartbeatsReceived: 0,
    rejected: { forged: 0, replayed: 0, unknownPeer: 0, skewed: 0, malformed: 0 },
    announcements: 0,
    syncLost: 0,
    syncUnknown: 0,
  };

  private constructor(private readonly o: HaManagerOptions, resumeMaster: boolean) {
    this.cfg = o.config;
    this.verifier = new HeartbeatVerifier({ peers: [this.cfg.peer.name], key: this.cfg.key, maxSkewMs: this.cfg.maxSkewMs });
    this.roles = new RoleMachine({
      node: this.cfg.node, priority: this.cfg.priority, peer: this.cfg.peer.name, preempt: this.cfg.preempt, preemptDelayMs: this.cfg.preemptDelayMs,
      intervalMs: this.cfg.intervalMs, deadIntervals: this.cfg.deadIntervals, hold: o.stateFile.saved.hold,
      resumeMaster, nowMs: monoMs(),
    });
  }

  /** Takes part in HA from now: the floating set and flags in the maps, the sockets, the timers. */
  static async start(o: HaManagerOptions): Promise<HaManager> {
    // A lease still valid at start is this router's own from before a restart: it stays master.
    const resume = leaseValid(o.maps) && !o.stateFile.saved.hold;
    const m = new HaManager(o, resume);
    m.refreshFloating();
    setHaFlags(o.maps, XLVS_HA_F_ENABLED | XLVS_HA_F_SYNC);
    const { local, peer } = o.config;
    m.link = await HeartbeatLink.open({
      port: o.config.port,
      paths: [
        { path: 'public', local: local.public, peer: peer.public },
        { path: 'private', local: local.private, peer: peer.private },
      ],
      onMessage: (buf, path) => m.onMessage(buf, path),
      onStray: (why, path, from) => {
        m.counters.rejected[why]++;
        m.o.log.debug({ path, from, why }, 'heartbeat datagram dropped');
      },
      onError: (e, path) => m.o.log.warn({ err: e, path }, `heartbeat socket on the ${path} path: ${e.message}`),
    });
    o.sync.onInSync((inSync) => m.apply(m.roles.setInSync(inSync, monoMs()), 'sync'));
    await o.sync.start();
    o.log.info({ node: o.config.node, priority: o.config.priority, resume, hold: o.stateFile.saved.hold }, resume ? 'ha: resuming master (lease still valid)' : 'ha: starting as backup');
    if (resume) m.enterMaster(false);
    m.tick();
    return m;
  }

  /** The floating addresses changed (a reload changed the VIPs): the data plane's set follows. */
  refreshFloating(): void {
    const f = this.o.floating();
    setFloating(this.o.maps, [...f.public, ...f.private]);
  }

  private get deadMs(): number {
    return this.cfg.intervalMs * this.cfg.deadIntervals;
  }

  private tick(): void {
    if (this.stopped) return;
    const now = monoMs();
    // The next beat is due whatever this one meets: the timer goes first.
    this.timer = setTimeout(() => this.tick(), this.cfg.intervalMs);
    let fault: string | undefined;
    try {
      fault = this.o.faultCheck();
    } catch (e) {
      fault = `the fault check failed: ${(e as Error).message}`;
    }
    try {
      this.apply(this.roles.setFault(fault, now), 'fault check');
      this.apply(this.roles.tick(now), 'tick');
      if (this.roles.current === 'master') writeLease(this.o.maps, this.deadMs);
      this.sendAdvert('advert');
    } catch (e) {
      this.o.log.error({ err: e, code: (e as { code?: string }).code }, `ha: heartbeat tick failed: ${(e as Error).message}`);
    }
    this.armDeadTimer(now);
  }

  /**
   * A tick exactly when silence would make the peer gone (its last message + the dead time, or
   * the end of a restart hold): detection is the only wait, not up to an interval more.
   */
  private armDeadTimer(now: number): void {
    clearTimeout(this.deadTimer);
    const at = this.roles.silenceDeadline();
    if (at <= now) return;
    this.deadTimer = setTimeout(() => {
      if (this.stopped) return;
      this.apply(this.roles.tick(monoMs()), 'dead time');
      this.armDeadTimer(monoMs());
    }, at - now + 1);
  }

  private onMessage(buf: Buffer, path: HaPath): void {
    const now = monoMs();
    const v = this.verifier.verify(buf, Date.now(), path);
    if (!v.ok) {
      // Counted once, by the verifier (status() adds its counts): not here as well.
      this.o.log.debug({ path, reason: v.reason }, 'heartbeat refused');
      return;
    }
    this.counters.heartbeatsReceived++;
    this.apply(this.roles.heard(v.message, path, now), `heartbeat on the ${path} path`);
    this.armDeadTimer(now);
  }

  /** Carries out what the role machine decided. */
  private apply(step: RoleUpdate, cause: string): void {
    if (step.transition) {
      const { from, to, reason } = step.transition;
      this.counters.transitions[to]++;
      const atMs = monoMs();
      this.o.log.info({ node: this.cfg.node, from, to, reason, cause, peer: this.cfg.peer.name }, `ha: ${from} -> ${to}: ${reason}`);
      if (to === 'master') this.enterMaster(true);
      else this.leaveMaster();
      // The peer learns at once, not at the next interval.
      this.sendAdvert('advert');
      this.events.emit('event', { node: this.cfg.node, from, to, reason, atMs } satisfies HaEvent);
    } else if (step.reannounce && this.roles.current === 'master') {
      this.o.log.info({ node: this.cfg.node, cause }, 'ha: the peer claimed master or was unheard; announcing again');
      this.announce();
    }
  }

  private enterMaster(announce: boolean): void {
    writeLease(this.o.maps, this.deadMs);
    if (announce) this.announce();
    this.scheduleRefresh();
  }

  private leaveMaster(): void {
    dropLease(this.o.maps);
    clearTimeout(this.refreshTimer);
  }

  private announce(): void {
    const f = this.o.floating();
    const { count, spacingMs } = this.cfg.announce;
    for (const [side, addrs] of [['public', f.public], ['private', f.private]] as const) {
      if (addrs.length === 0) continue;
      this.o.announcers[side].burst(addrs, { count, spacingMs }).then(
        (r) => {
          this.counters.announcements += r.sent;
          if (r.failed > 0) this.o.log.warn({ side, failed: r.failed, errno: r.errno }, `ha: ${r.failed} announcement frames refused on the ${side} interface`);
        },
        (e: Error) => this.o.log.error({ err: e, side }, `ha: announcing on the ${side} interface failed: ${e.message}`),
      );
    }
  }

  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    if (this.cfg.announce.refreshMs <= 0) return;
    this.refreshTimer = setTimeout(() => {
      if (this.roles.current === 'master' && !this.stopped) {
        this.announce();
        this.scheduleRefresh();
      }
    }, this.cfg.announce.refreshMs);
  }

  private message(type: HeartbeatType, path: HaPath, holdMs = 0): Heartbeat {
    const s = this.o.sync.status();
    const r = this.roles.status(monoMs());
    return {
      type, name: this.cfg.node, priority: this.roles.effectivePriority(), role: this.roles.current,
      hold: r.hold, inSync: s.in.bulkDone, bulkDone: s.in.bulkDone,
      path, epoch: this.epoch, seq: ++this.seq[path], timeMs: Date.now(), holdMs, syncLagMs: Math.min(0xffffffff, Math.max(0, Math.round(s.in.lagMs))),
    };
  }

  private sendAdvert(type: HeartbeatType, holdMs = 0): void {
    if (!this.link) return;
    this.link.send((path) => encodeHeartbeat(this.message(type, path, holdMs), this.cfg.key));
    this.counters.heartbeatsSent++;
  }

  // ---- HaControl ----

  status(): HaStatus {
    const r = this.roles.status(monoMs());
    const sync = this.o.sync.status();
    const rejected = { ...this.counters.rejected };
    for (const [k, n] of Object.entries(this.verifier.rejected)) rejected[k as keyof typeof rejected] += n;
    for (const [k, n] of Object.entries(this.o.sync.rejected())) rejected[k as keyof typeof rejected] += n;
    return {
      enabled: true, ...r, priority: this.cfg.priority, sync,
      counters: { ...this.counters, syncLost: this.o.sync.lost(), syncUnknown: this.o.sync.unknown(), rejected, transitions: { ...this.counters.transitions } },
    };
  }

  watch(listener: (e: HaEvent) => void): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }

  async failover(): Promise<void> {
    // Refusals (not master, nobody to take over) come from the machine before anything is sent.
    const update = this.roles.failover(monoMs());
    // YIELD: the peer takes over on receipt, while this router still forwards what reaches it.
    this.sendAdvert('yield');
    this.apply(update, 'failover');
  }

  async hold(on: boolean): Promise<void> {
    this.o.stateFile.save({ hold: on });
    const wasMaster = this.roles.current === 'master';
    const update = this.roles.setHold(on, monoMs());
    if (on && wasMaster) this.sendAdvert('yield');
    this.apply(update, on ? 'hold on' : 'hold off');
  }

  /**
   * Stops taking part. 'restart': a master keeps its lease for restartHoldMs and the peer is told
   * to hold off that long; 'leave': GOODBYE, the lease dropped, the peer takes over now.
   */
  async stop(mode: 'restart' | 'leave'): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.deadTimer);
    clearTimeout(this.refreshTimer);
    if (mode === 'restart') {
      if (this.roles.current === 'master') writeLease(this.o.maps, this.cfg.restartHoldMs);
      await this.link?.sendAndWait((path) => encodeHeartbeat(this.message('restarting', path, this.cfg.restartHoldMs), this.cfg.key));
      this.o.log.info({ holdMs: this.cfg.restartHoldMs, role: this.roles.current }, 'ha: restarting; the peer holds off');
    } else {
      dropLease(this.o.maps);
      await this.link?.sendAndWait((path) => encodeHeartbeat(this.message('goodbye', path), this.cfg.key));
      this.o.log.info('ha: left; the peer takes over');
    }
    this.link?.close();
    await this.o.sync.stop();
    this.events.removeAllListeners();
  }
}
