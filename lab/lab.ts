// SPDX-License-Identifier: Apache-2.0
// The namespace lab: a client, a router (where the balancer runs), a bridged LAN and N real
// servers, each in its own network namespace named after a per-lab prefix. Used by the demo,
// the integration tests and the benchmarks; see topology.ts for the layout.

import { spawn as spawnChild, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { resolve as resolvePath } from 'node:path';
import pino, { type Logger } from 'pino';
import { CommandError, LabError } from './errors.js';
import { NETNS_DIR, nsArgv, run, type RunResult } from './proc.js';
import { captureStderr, hasExited, stopChild, waitForLine } from './child.js';
import { guard, unguard, type SyncTeardown } from './exit-guard.js';
import { HoldSession } from './hold-session.js';
import type { Tally } from './client-tally.js';
import type { BulkResult } from './client-stream.js';
import type { UdpRateResult } from './client-udp-rate.js';
import {
  allNamespaces, LAB_PORTS, labAddresses, labNamespaces, MAX_REALS, PRIVATE_IFACE, PUBLIC_IFACE, wiringSteps,
  type LabAddresses, type LabNamespaces,
} from './topology.js';
import {
  deleteNamespace, killNamespacePids, killQuietly, listNamespaces, PREFIX_PATTERN, removeRecord,
  removeRecordSync, removeStaleLabs as removeStale, REGISTRY_DIR, writeRecord,
} from './registry.js';
import { fromRoot } from '../src/paths.js';

export { LabError, CommandError } from './errors.js';
export type { HoldSession, HoldReply, HoldEnd } from './hold-session.js';
export type { LabAddresses, LabNamespaces } from './topology.js';
export type { Tally } from './client-tally.js';
export type { BulkResult } from './client-stream.js';
export type { UdpRateResult } from './client-udp-rate.js';
export { LAB_PORTS } from './topology.js';

const REPO_ROOT = fromRoot();
export const DEFAULT_PASS_OBJECT = resolvePath(REPO_ROOT, 'build/xlvs_pass.bpf.o');
const REALSERVER_JS = fileURLToPath(new URL('./realserver.js', import.meta.url));
/** The lab reals' second HTTP port (see realserver.ts): for a second service in one test. */
export const REAL_HTTP_PORT_2 = 8081;
const CLIENT_JS = fileURLToPath(new URL('./client.js', import.meta.url));

const DEFAULT_REALS = 3;
const READY_TIMEOUT_MS = 10_000;
/** The client's own default total timeout (client.ts), and the room we leave above it. */
const CLIENT_TOTAL_TIMEOUT_MS = 30_000;
const CLIENT_TIMEOUT_SLACK_MS = 15_000;

export interface LabOptions {
  /** Number of real servers, 1..200 (default 3). */
  reals?: number;
  /** The XDP pass-through object attached to the router's peers (default build/xlvs_pass.bpf.o). */
  passObject?: string;
  /** Namespace name prefix, `xlvs-<id>-` (default: a fresh random one). */
  prefix?: string;
  log?: Logger;
}

export type ClientMode = 'http' | 'udp' | 'bulk' | 'udp-rate';

export interface ClientOptions {
  /** Namespace to run the client in (default: the client namespace). */
  ns?: string;
  /**
   * Hard limit on the client process. Default: its own --timeout-ms (30 s unless given) plus
   * 15 s, so that the client's result, not our kill, normally ends it.
   */
  timeoutMs?: number;
}

export interface HoldOptions {
  host: string;
  port: number;
  intervalMs?: number;
  durationMs: number;
  /** Namespace to run the client in (default: the client namespace). */
  ns?: string;
}

export function defaultLogger(): Logger {
  return pino({ level: process.env.XLVS_LOG_LEVEL ?? 'info' }, pino.destination(2));
}

/** Deletes `xlvs-*` lab namespaces left by processes that no longer exist. Returns their names. */
export function removeStaleLabs(log: Logger = defaultLogger()): Promise<string[]> {
  return removeStale(log);
}

async function freshPrefix(): Promise<string> {
  const taken = await listNamespaces();
  for (let attempt = 0; attempt < 32; attempt++) {
    const prefix = `xlvs-${randomBytes(2).toString('hex')}-`;
    if (!taken.some((n) => n.startsWith(prefix))) return prefix;
  }
  throw new LabError('no free lab prefix after 32 attempts; run removeStaleLabs()');
}

export class Lab implements SyncTeardown {
  readonly ns: LabNamespaces;
  readonly addr: LabAddresses;
  readonly ifaces = { public: PUBLIC_IFACE, private: PRIVATE_IFACE } as const;
  readonly ports = LAB_PORTS;
  private readonly children = new Set<ChildProcess>();
  private readonly realServers: Array<ChildProcess | undefined>;
  /** Only namespaces this lab added are ever deleted by it. */
  private readonly created: string[] = [];
  private destroying: Promise<void> | undefined;

  private constructor(
    readonly prefix: string,
    reals: number,
    readonly passObject: string,
    readonly log: Logger,
  ) {
    this.ns = labNamespaces(prefix, reals);
    this.addr = labAddresses(reals);
    this.realServers = new Array<ChildProcess | undefined>(reals).fill(undefined);
  }

  static async create(opts: LabOptions = {}): Promise<Lab> {
    const log = opts.log ?? defaultLogger();
    const reals = opts.reals ?? DEFAULT_REALS;
    if (!Number.isInteger(reals) || reals < 1 || reals > MAX_REALS) throw new LabError(`reals must be 1..${MAX_REALS} (got ${reals})`);
    const prefix = opts.prefix ?? (await freshPrefix());
    if (!PREFIX_PATTERN.test(prefix) || prefix.length > 32) throw new LabError(`lab prefix must look like xlvs-<id>- (got ${JSON.stringify(prefix)})`);
    const passObject = resolvePath(opts.passObject ?? DEFAULT_PASS_OBJECT);
    try {
      await access(passObject);
    } catch (err) {
      throw new LabError(`XDP pass object ${passObject} is missing; build it first (make build)`, { cause: err });
    }

    const lab = new Lab(prefix, reals, passObject, log.child({ lab: prefix }));
    try {
      await lab.build();
    } catch (err) {
      lab.log.error({ err }, 'lab creation failed; tearing down what was built');
      await lab.destroy().catch((cleanupErr: unknown) => lab.log.error({ err: cleanupErr }, 'teardown after failed creation also failed'));
      throw err;
    }
    return lab;
  }

  private async build(): Promise<void> {
    const t0 = Date.now();
    const names = allNamespaces(this.ns);
    const existing = new Set(await listNamespaces());
    const clash = names.filter((n) => existing.has(n));
    if (clash.length > 0) throw new LabError(`namespaces already exist: ${clash.join(', ')}`);

    // Record first and guard before adding anything, so a crash at any later point is cleaned up.
    await writeRecord(this.prefix, names);
    guard(this);
    for (const n of names) {
      await run(['ip', 'netns', 'add', n]);
      this.created.push(n);
    }
    for (const step of wiringSteps(this.ns, this.addr, this.passObject)) {
      try {
        await run(step.argv);
      } catch (err) {
        throw new LabError(`lab step "${step.what}" failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }
    this.log.info({ namespaces: names, ms: Date.now() - t0 }, 'lab created');
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
  async startRealServers(): Promise<void> {
    await Promise.all(this.ns.reals.map((_, i) => this.startRealServer(i)));
  }

  /** Starts real server `i` (0-based: 0 is rs1 at addr.reals[0]); a no-op if it runs already. */
  async startRealServer(i: number): Promise<void> {
    const ns = this.realNs(i);
    const running = this.realServers[i];
    if (running !== undefined && !hasExited(running)) return;
    const name = `rs${i + 1}`;
    // With --exit-on-stdin-close the server dies with us even if we are SIGKILLed; dual-stack, so
    // the same servers answer an IPv6 VIP once addLabV6 has run.
    const child = this.spawn(ns, [process.execPath, REALSERVER_JS, '--name', name, '--http-port-2', String(REAL_HTTP_PORT_2), '--dual-stack', '1', '--exit-on-stdin-close', '1']);
    const tail = captureStderr(child, (line) => this.log.debug({ real: name, line }, 'real server stderr'));
    this.realServers[i] = child;
    child.on('exit', (code, signal) => this.log.debug({ real: name, code, signal }, 'real server exited'));
    try {
      await waitForLine(child, 'READY', READY_TIMEOUT_MS, tail);
    } catch (err) {
      await stopChild(child);
      throw new LabError(`real server ${name} did not start: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /** Stops real server `i` (0-based) and waits until it has exited; a no-op if it is not running. */
  async stopRealServer(i: number): Promise<void> {
    this.realNs(i);
    const child = this.realServers[i];
    this.realServers[i] = undefined;
    if (child !== undefined) await stopChild(child);
  }

  private realNs(i: number): string {
    const ns = this.ns.reals[i];
    if (!Number.isInteger(i) || ns === undefined) throw new LabError(`no real server with index ${i} (0..${this.ns.reals.length - 1})`);
    return ns;
  }

  /**
   * Runs client.js once (in the client namespace by default) and returns its parsed JSON result.
   * `args` are the mode's flags (see client.ts). A number for `opts` is a timeoutMs.
   */
  client(mode: 'http' | 'udp', args: string[], opts?: ClientOptions | number): Promise<Tally>;
  client(mode: 'bulk', args: string[], opts?: ClientOptions | number): Promise<BulkResult>;
  client(mode: 'udp-rate', args: string[], opts?: ClientOptions | number): Promise<UdpRateResult>;
  async client(mode: ClientMode, args: string[], opts: ClientOptions | number = {}): Promise<Tally | BulkResult | UdpRateResult> {
    const o: ClientOptions = typeof opts === 'number' ? { timeoutMs: opts } : opts;
    const ns = o.ns ?? this.ns.client;
    const own = Number(args[args.indexOf('--timeout-ms') + 1]);
    const timeoutMs = o.timeoutMs ?? (args.includes('--timeout-ms') && Number.isFinite(own) ? own : CLIENT_TOTAL_TIMEOUT_MS) + CLIENT_TIMEOUT_SLACK_MS;
    try {
      const { stdout } = await this.exec(ns, [process.execPath, CLIENT_JS, mode, ...args], { timeoutMs });
      return lastJsonLine(stdout);
    } catch (err) {
      const why = err instanceof CommandError ? `${err.message} ${err.stdout.trim()}` : String(err);
      throw new LabError(`client ${mode} ${args.join(' ')} in ${ns} failed: ${why}`, { cause: err });
    }
  }

  /** Starts a long-held TCP connection that PINGs every interval; see HoldSession. */
  hold(opts: HoldOptions): HoldSession {
    const args = ['hold', '--host', opts.host, '--port', String(opts.port), '--interval-ms', String(opts.intervalMs ?? 100), '--duration-ms', String(opts.durationMs)];
    const child = this.spawn(opts.ns ?? this.ns.client, [process.execPath, CLIENT_JS, ...args]);
    const tail = captureStderr(child, (line) => this.log.debug({ line }, 'hold client stderr'));
    return new HoldSession(child, tail, this.log);
  }

  /**
   * Kills every process the lab started (and anything else left inside its namespaces) and
   * deletes its namespaces. Idempotent. Things already gone are fine; anything else is logged
   * and reported by one LabError at the end, after every step has been tried.
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
    await removeRecord(this.prefix).catch((err: unknown) => problem(err, 'removing lab record failed', { dir: REGISTRY_DIR }));
    if (problems > 0) throw new LabError(`lab ${this.prefix} teardown hit ${problems} problem(s); see the log`);
    this.log.info('lab destroyed');
  }

  /** Exit-handler teardown: synchronous, best effort, logs what fails. */
  teardownSync(reason: string): void {
    this.log.warn({ reason }, 'tearing the lab down from an exit handler');
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
    removeRecordSync(this.prefix, this.log);
  }
}

function lastJsonLine(stdout: string): Tally | BulkResult {
  const lines = stdout.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  try {
    return JSON.parse(last) as Tally | BulkResult;
  } catch (err) {
    throw new LabError(`client printed no JSON result: ${JSON.stringify(stdout.slice(-500))}`, { cause: err });
  }
}
