// SPDX-License-Identifier: Apache-2.0
// The namespace lab: a client, a router (where the balancer runs), a bridged LAN and N real
// servers, each in its own network namespace named after a per-lab prefix. Used by the demo,
// the integration tests and the benchmarks; see topology.ts for the layout and namespace-lab.ts
// for what it shares with the HA lab (creating, running commands, destroying).

import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { CommandError, LabError } from './errors.js';
import { captureStderr } from './child.js';
import { HoldSession } from './hold-session.js';
import type { Tally } from './client-tally.js';
import type { BulkResult } from './client-stream.js';
import type { UdpRateResult } from './client-udp-rate.js';
import {
  allNamespaces, labAddresses, labNamespaces, MAX_REALS, wiringSteps, type LabAddresses, type LabNamespaces, type Step,
} from './topology.js';
import { removeStaleLabs as removeStale } from './registry.js';
import { defaultLogger, NamespaceLab, type LabBasics, type NamespaceLabOptions } from './namespace-lab.js';
import { RealServers } from './real-servers.js';

export { LabError, CommandError } from './errors.js';
export type { HoldSession, HoldReply, HoldEnd } from './hold-session.js';
export type { LabAddresses, LabNamespaces } from './topology.js';
export type { Tally } from './client-tally.js';
export type { BulkResult } from './client-stream.js';
export type { UdpRateResult } from './client-udp-rate.js';
export { LAB_PORTS } from './topology.js';
export { DEFAULT_PASS_OBJECT, defaultLogger } from './namespace-lab.js';

/** The lab reals' second HTTP port (see realserver.ts): for a second service in one test. */
export const REAL_HTTP_PORT_2 = 8081;
const CLIENT_JS = fileURLToPath(new URL('./client.js', import.meta.url));

/** The client's own default total timeout (client.ts), and the room we leave above it. */
const CLIENT_TOTAL_TIMEOUT_MS = 30_000;
const CLIENT_TIMEOUT_SLACK_MS = 15_000;

/** reals: 1..200 (default 3); passObject: attached to the router's peers. */
export type LabOptions = NamespaceLabOptions;

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

/** Deletes `xlvs-*` lab namespaces left by processes that no longer exist. Returns their names. */
export function removeStaleLabs(log: Logger = defaultLogger()): Promise<string[]> {
  return removeStale(log);
}

export class Lab extends NamespaceLab {
  readonly ns: LabNamespaces;
  readonly addr: LabAddresses;
  protected readonly realServers: RealServers;

  private constructor(basics: LabBasics) {
    super(basics, 'lab');
    this.ns = labNamespaces(basics.prefix, basics.reals);
    this.addr = labAddresses(basics.reals);
    this.realServers = new RealServers(this, this.ns.reals, ['--http-port-2', String(REAL_HTTP_PORT_2)]);
  }

  static create(opts: LabOptions = {}): Promise<Lab> {
    return NamespaceLab.createWith(opts, MAX_REALS, (basics) => new Lab(basics));
  }

  protected namespaceNames(): string[] {
    return allNamespaces(this.ns);
  }

  protected wiringSteps(): Step[] {
    return wiringSteps(this.ns, this.addr, this.passObject);
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
