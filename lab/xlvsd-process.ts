// SPDX-License-Identifier: Apache-2.0
// Runs a real xlvsd inside a lab's router namespace (via nsenter, so bpffs at
// /sys/fs/bpf stays the host's and pins survive restarts), for the demo,
// tests and benchmarks. Each instance has its own pin dir, state dir and socket.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connectApi, type ApiClient } from '../src/api/client.js';
import { LabError } from './errors.js';
import type { SpawnOptions } from 'node:child_process';
import type { RunResult } from './proc.js';
import { fromRoot } from '../src/paths.js';

const REPO_ROOT = fromRoot();
const XLVSD = resolve(REPO_ROOT, 'dist/src/cli/xlvsd.js');
const READY_TIMEOUT_MS = 20_000;

/** What a daemon needs of its lab: the lab's prefix and a way to run commands in a namespace. */
export interface LabHost {
  readonly prefix: string;
  exec(ns: string, cmd: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
  spawn(ns: string, cmd: string[], opts?: SpawnOptions): ChildProcess;
}

export interface XlvsdOptions {
  /** The namespace the daemon runs in (default the one-router lab's router). */
  namespace?: string;
  /** Config file text (YAML); written to the instance's work dir as xlvs.yaml. */
  config: string;
  extraArgs?: string[];
  /** How long a start may take until the API answers (default READY_TIMEOUT_MS); big configs take longer. */
  readyTimeoutMs?: number;
  /**
   * A command the daemon runs under, e.g. setpriv dropping CAP_NET_RAW as a systemd unit's
   * CapabilityBoundingSet would.
   */
  wrapper?: string[];
  /**
   * Another instance's pin dir (default: the lab's own), for a second daemon on one data plane.
   * A failed start then leaves that data plane alone instead of tearing it down.
   */
  pinDir?: string;
}

export class XlvsdProcess {
  private child: ChildProcess | undefined;
  private out = '';
  api!: ApiClient;

  private constructor(
    private readonly lab: LabHost,
    private readonly ns: string,
    readonly dir: string,
    readonly pinDir: string,
    private readonly extraArgs: string[],
    private readonly readyTimeoutMs: number,
    private readonly wrapper: string[],
  ) {}

  get configPath(): string {
    return join(this.dir, 'xlvs.yaml');
  }
  get socket(): string {
    return `unix:${join(this.dir, 'xlvsd.sock')}`;
  }
  /** The running daemon's pid (for /proc/PID/status). */
  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined || this.child?.exitCode !== null) throw new LabError('xlvsd is not running');
    return pid;
  }
  /** Everything the daemon printed (pino JSON lines and stderr). */
  get output(): string {
    return this.out;
  }

  static async start(lab: LabHost & { ns?: object }, opts: XlvsdOptions): Promise<XlvsdProcess> {
    const ns = opts.namespace ?? (lab.ns as { router?: string } | undefined)?.router;
    if (ns === undefined) throw new LabError('XlvsdProcess.start: no namespace given and the lab has no router');
    const dir = mkdtempSync(join(tmpdir(), `${lab.prefix}xlvsd-`));
    const p = new XlvsdProcess(lab, ns, dir, opts.pinDir ?? `/sys/fs/bpf/${lab.prefix}xlvs`, opts.extraArgs ?? [], opts.readyTimeoutMs ?? READY_TIMEOUT_MS, opts.wrapper ?? []);
    writeFileSync(p.configPath, opts.config);
    try {
      await p.launch();
    } catch (e) {
      // A daemon that died during start may have pinned maps already: leave nothing behind
      // (but a shared pin dir belongs to the instance that made it).
      const cleanup = opts.pinDir === undefined ? p.destroy() : p.stop().then(() => rmSync(dir, { recursive: true, force: true }));
      await cleanup.catch((err: unknown) => {
        throw new AggregateError([e, err], `xlvsd failed to start, and removing its data plane failed too`);
      });
      throw e;
    }
    return p;
  }

  writeConfig(text: string): void {
    writeFileSync(this.configPath, text);
  }

  /** Starts (or restarts) the daemon and waits until its API answers. */
  async launch(): Promise<void> {
    const args = [
      XLVSD, '--config', this.configPath, '--pin-dir', this.pinDir, '--state-dir', join(this.dir, 'state'),
      '--listen', this.socket, ...this.extraArgs,
    ];
    const child = this.lab.spawn(this.ns, [...this.wrapper, process.execPath, ...args]);
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.out += d.toString()));
    let onExit: (code: number | null, sig: NodeJS.Signals | null) => void = () => {};
    const exited = new Promise<never>((_, reject) => {
      onExit = (code, sig) => reject(new LabError(`xlvsd exited during start (code ${code}, signal ${sig}): ${this.out.slice(-2000)}`));
      child.once('exit', onExit);
    });
    try {
      this.api = await Promise.race([connectApi(this.socket, { waitForDaemon: true, connectTimeoutMs: this.readyTimeoutMs }), exited]);
    } finally {
      child.off('exit', onExit); // only ours: the lab tracks the child through its own listener
    }
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(sig);
    await done;
  }

  /** SIGKILL: the daemon gets no chance to clean anything up. */
  async kill9(): Promise<void> {
    this.api?.close();
    await this.signal('SIGKILL');
  }

  /** SIGTERM: a restart's stop (with HA: the role is kept, the peer holds off). */
  async stop(): Promise<void> {
    this.api?.close();
    await this.signal('SIGTERM');
  }

  /** SIGUSR2: a stop for good (with HA: GOODBYE, the peer takes over at once). */
  async leave(): Promise<void> {
    this.api?.close();
    await this.signal('SIGUSR2');
  }

  reload(): void {
    this.child?.kill('SIGHUP');
  }

  /** Stops the daemon, removes its data plane (xlvsd --teardown) and its work dir. */
  async destroy(): Promise<void> {
    await this.stop();
    await this.lab.exec(this.ns, [process.execPath, XLVSD, '--teardown', '--pin-dir', this.pinDir, '--state-dir', join(this.dir, 'state')]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
