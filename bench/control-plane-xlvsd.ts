// SPDX-License-Identifier: Apache-2.0
// xlvsd in a lab router namespace with a start deadline that fits 10,000 services: the same as
// src/lab/xlvsd-process.ts (own pin dir, state dir and socket; teardown on destroy), whose 20 s
// ready timeout is shorter than a loaded machine takes to parse, verify and apply this config.
// (Asked for: a readyTimeoutMs option there, after which this file goes.)

import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectApi, type ApiClient } from '../src/api/client.js';
import type { Lab } from '../src/lab/lab.js';
import { BenchError } from './per-packet.js';

const XLVSD = fileURLToPath(new URL('../src/cli/xlvsd.js', import.meta.url));
const READY_TIMEOUT_MS = 150_000;

export class BenchXlvsd {
  private child: ChildProcess | undefined;
  private out = '';
  api!: ApiClient;
  readonly dir: string;
  readonly pinDir: string;

  constructor(private readonly lab: Lab) {
    this.dir = mkdtempSync(join(tmpdir(), `${lab.prefix}xlvsd-`));
    this.pinDir = `/sys/fs/bpf/${lab.prefix}xlvs`;
  }

  get configPath(): string {
    return join(this.dir, 'xlvs.yaml');
  }
  get output(): string {
    return this.out;
  }
  get pid(): number {
    if (this.child?.pid === undefined) throw new BenchError('xlvsd is not running');
    return this.child.pid;
  }

  writeConfig(text: string): void {
    writeFileSync(this.configPath, text);
  }

  async launch(): Promise<void> {
    const child = this.lab.spawn(this.lab.ns.router, [process.execPath, XLVSD, '--config', this.configPath, '--pin-dir', this.pinDir,
      '--state-dir', join(this.dir, 'state'), '--listen', `unix:${join(this.dir, 'xlvsd.sock')}`]);
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.out += d.toString()));
    let onExit: () => void = () => {};
    const exited = new Promise<never>((_, reject) => {
      onExit = () => reject(new BenchError(`xlvsd exited during start: ${this.out.slice(-2000)}`));
      child.once('exit', onExit);
    });
    try {
      this.api = await Promise.race([connectApi(`unix:${join(this.dir, 'xlvsd.sock')}`, { waitForDaemon: true, connectTimeoutMs: READY_TIMEOUT_MS }), exited]);
    } finally {
      child.off('exit', onExit);
    }
  }

  reload(): void {
    this.child?.kill('SIGHUP');
  }

  async stop(): Promise<void> {
    this.api?.close();
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    await done;
  }

  /** Stops the daemon, removes its data plane (xlvsd --teardown) and its work dir. */
  async destroy(): Promise<void> {
    try {
      await this.stop();
      await this.lab.exec(this.lab.ns.router, [process.execPath, XLVSD, '--teardown', '--pin-dir', this.pinDir]);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
