// SPDX-License-Identifier: Apache-2.0
// What every namespace lab shares (Lab in lab.ts, HaLab in ha-lab.ts): choosing a fresh prefix,
// the create sequence (checks, build, teardown when building fails), recording and guarding the
// lab before adding namespaces, running and spawning commands in them, starting and stopping
// the real servers (real-servers.ts) and destroying the lab.

import { spawn as spawnChild, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import pino, { type Logger } from 'pino';
import { LabError } from './errors.js';
import { NETNS_DIR, nsArgv, run, type RunResult } from './proc.js';
import { hasExited, stopChild } from './child.js';
import { guard, unguard, type SyncTeardown } from './exit-guard.js';
import { LAB_PORTS, PRIVATE_IFACE, PUBLIC_IFACE, type Step } from './topology.js';
import {
  deleteNamespace, killNamespacePids, killQuietly, listNamespaces, PREFIX_PATTERN, removeRecord, removeRecordSync,
  REGISTRY_DIR, writeRecord,
} from './registry.js';
import type { RealServers } from './real-servers.js';
import { inNetns } from '../src/kernel/test-run.js';
import { fromRoot } from '../src/paths.js';

export const DEFAULT_PASS_OBJECT = resolvePath(fromRoot(), 'build/xlvs_pass.bpf.o');
const DEFAULT_REALS = 3;

export function defaultLogger(): Logger {
  return pino({ level: process.env.XLVS_LOG_LEVEL ?? 'info' }, pino.destination(2));
}

/** The options every lab takes. */
export interface NamespaceLabOptions {
  /** Number of real servers, 1..the lab's maximum (default 3). */
  reals?: number;
  /** The XDP pass-through object the wiring attaches (default build/xlvs_pass.bpf.o). */
  passObject?: string;
  /** Namespace name prefix, `xlvs-<id>-` (default: a fresh random one). */
  prefix?: string;
  log?: Logger;
}

/** The checked options a lab is constructed from; `log` is already the lab's child logger. */
export interface LabBasics {
  prefix: string;
  reals: number;
  passObject: string;
  log: Logger;
}

/** A `xlvs-<4 hex>-` prefix no existing namespace starts with. */
export async function freshPrefix(): Promise<string> {
  const taken = await listNamespaces();
  for (let attempt = 0; attempt < 32; attempt++) {
    const prefix = `xlvs-${randomBytes(2).toString('hex')}-`;
    if (!taken.some((n) => n.startsWith(prefix))) return prefix;
  }
  throw new LabError('no free lab prefix after 32 attempts; run removeStaleLabs()');
}

export abstract class NamespaceLab implements SyncTeardown {
  readonly ifaces = { public: PUBLIC_IFACE, private: PRIVATE_IFACE } as const;
  readonly ports = LAB_PORTS;
  readonly prefix: string;
  readonly passObject: string;
  readonly log: Logger;
  private readonly children = new Set<ChildProcess>();
  /** Only namespaces this lab added are ever deleted by it. */
  protected readonly created: string[] = [];
  private destroying: Promise<void> | undefined;
  /** The registry record is this lab's: written by it (a creation refused for a clash wrote none, and must not remove the other lab's). */
  private recorded = false;

  /** `label` names the lab in log and error messages ('lab', 'HA lab'). */
  protected constructor(
    basics: LabBasics,
    private readonly label: string,
  ) {
    this.prefix = basics.prefix;
    this.passObject = basics.passObject;
    this.log = basics.log;
  }

  /** The lab's real servers, one per real namespace. */
  protected abstract readonly realServers: RealServers;
  /** Every namespace of the lab, in the order they are added. */
  protected abstract namespaceNames(): string[];
  /** The commands that wire the added namespaces together. */
  protected abstract wiringSteps(): Step[];
  /** Releases what the subclass holds open (sockets); runs first in both teardowns. */
  protected closeHandles(): void {}

  /**
   * The create sequence: checks the options (reals 1..maxReals, prefix, the pass object), makes
   * the lab with `make`, builds it, and tears down what was built if building fails.
   */
  protected static async createWith<L extends NamespaceLab>(opts: NamespaceLabOptions, maxReals: number, make: (b: LabBasics) => L): Promise<L> {
    const log = opts.log ?? defaultLogger();
    const reals = opts.reals ?? DEFAULT_REALS;
    if (!Number.isInteger(reals) || reals < 1 || reals > maxReals) throw new LabError(`reals must be 1..${maxReals} (got ${reals})`);
    const prefix = opts.prefix ?? (await freshPrefix());
    if (!PREFIX_PATTERN.test(prefix) || prefix.length > 32) throw new LabError(`lab prefix must look like xlvs-<id>- (got ${JSON.stringify(prefix)})`);
    const passObject = resolvePath(opts.passObject ?? DEFAULT_PASS_OBJECT);
    try {
      await access(passObject);
    } catch (err) {
      throw new LabError(`XDP pass object ${passObject} is missing; build it first (make build)`, { cause: err });
    }

    const lab = make({ prefix, reals, passObject, log: log.child({ lab: prefix }) });
    try {
      await lab.build();
    } catch (err) {
      lab.log.error({ err }, `${lab.label} creation failed; tearing down what was built`);
      await lab.destroy().catch((cleanupErr: unknown) => lab.log.error({ err: cleanupErr }, 'teardown after failed creation also failed'));
      throw err;
    }
    return lab;
  }

  private async build(): Promise<void> {
    const t0 = Date.now();
    const names = this.namespaceNames();
    const existing = new Set(await listNamespaces());
    const clash = names.filter((n) => existing.has(n));
    if (clash.length > 0) throw new LabError(`namespaces already exist: ${clash.join(', ')}`);

    // Record first and guard before adding anything, so a crash at any later point is cleaned up.
    await writeRecord(this.prefix, names);
    this.recorded = true;
    guard(this);
    for (const n of names) {
      await run(['ip', 'netns', 'add', n]);
      this.created.push(n);
    }
    for (const step of this.wiringSteps()) {
      try {
        await run(step.argv);
      } catch (err) {
        throw new LabError(`${this.label} step "${step.what}" failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }
    this.log.info({ namespaces: names, ms: Date.now() - t0 }, `${this.label} created`);
  }

  /** argv for running a command inside one of the lab's namespaces (nsenter, network only). */
  nsArgv(ns: string, cmd: string[]): string[] {
    return nsArgv(ns, cmd);
  }

  /** Path of a namespace's bind mount, for tools that take a netns file. */
  nsPath(ns: string): string {
    return `${NETNS_DIR}/${ns}`;
  }

  /** Runs a command in a namespace to completion; rejects with CommandError on failure. */
  exec(ns: string, cmd: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
    return run(nsArgv(ns, cmd), opts.timeoutMs);
  }

  /** Runs synchronous code with the thread in a namespace (netlink sockets, /proc/sys, raw sockets). */
  inNs<T>(ns: string, fn: () => T): T {
    return inNetns(this.nsPath(ns), fn);
  }

  /**
   * Starts a long-lived command in a namespace. The lab kills it on destroy. stdio defaults to
   * pipes: read them (or pass `stdio`) or the child blocks once a pipe fills.
   */
  spawn(ns: string, cmd: string[], opts: SpawnOptions = {}): ChildProcess {
    const [file, ...args] = nsArgv(ns, cmd);
    const child = spawnChild(file, args, { stdio: 'pipe', ...opts });
    this.children.add(child);
    child.on('error', (err) => this.log.error({ err, ns, cmd }, 'lab child process error'));
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** Starts every real server that is not running; resolves once all print READY. */
  startRealServers(): Promise<void> {
    return this.realServers.startAll();
  }

  /** Starts real server `i` (0-based: 0 is rs1); a no-op if it runs already. */
  startRealServer(i: number): Promise<void> {
    return this.realServers.start(i);
  }

  /** Stops real server `i` (0-based) and waits until it has exited; a no-op if it is not running. */
  stopRealServer(i: number): Promise<void> {
    return this.realServers.stop(i);
  }

  /**
   * Kills every process the lab started (and anything else left inside its namespaces), closes
   * what the lab holds open and deletes its namespaces. Idempotent. Things already gone are fine;
   * anything else is logged and reported by one LabError at the end, after every step was tried.
   */
  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    unguard(this);
    let problems = 0;
    const problem = (err: unknown, msg: string, extra: object = {}): void => {
      problems += 1;
      this.log.error({ err, ...extra }, msg);
    };
    this.closeHandles();
    await Promise.all([...this.children].map((c) => stopChild(c).catch((err: unknown) => problem(err, 'stopping a lab process failed', { pid: c.pid }))));

    const present = new Set(await listNamespaces());
    for (const ns of this.created) {
      if (!present.has(ns)) {
        this.log.debug({ ns }, 'namespace already gone');
        continue;
      }
      try {
        const leftovers = await killNamespacePids(ns, this.log);
        if (leftovers.length > 0) this.log.warn({ ns, pids: leftovers }, 'killed processes the lab did not start');
        await deleteNamespace(ns);
      } catch (err) {
        problem(err, 'deleting lab namespace failed', { ns });
      }
    }
    if (this.recorded) await removeRecord(this.prefix).catch((err: unknown) => problem(err, 'removing lab record failed', { dir: REGISTRY_DIR }));
    if (problems > 0) throw new LabError(`${this.label} ${this.prefix} teardown hit ${problems} problem(s); see the log`);
    this.log.info(`${this.label} destroyed`);
  }

  /** Exit-handler teardown: synchronous, best effort, logs what fails. */
  teardownSync(reason: string): void {
    this.log.warn({ reason }, `tearing the ${this.label} down from an exit handler`);
    this.closeHandles();
    for (const child of this.children) if (child.pid !== undefined && !hasExited(child)) killQuietly(child.pid, this.log);
    for (const ns of this.created) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        for (const pid of pids.split(/\s+/).filter((s) => s !== '')) killQuietly(Number(pid), this.log);
        execFileSync('ip', ['netns', 'del', ns], { stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        this.log.error({ err, ns }, 'exit-handler namespace removal failed');
      }
    }
    if (this.recorded) removeRecordSync(this.prefix, this.log);
  }
}
