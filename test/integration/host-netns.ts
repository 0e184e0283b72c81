// SPDX-License-Identifier: Apache-2.0
// The host modules' fixture: a namespace `xlvs-host-<pid>-<hex>` with a veth pair a0 | b0 whose
// far end b0 sits in a second namespace (the "peer"), so neighbours really resolve. Both are
// removed by destroy() and, should the test die first, at exit (lab/exit-guard.ts) or by the
// next run (testing/stale.ts). `ip` is the reference the netlink results are held against.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { guard, unguard, type SyncTeardown } from '../../lab/exit-guard.js';
import { removeStaleFixtures } from '../../testing/stale.js';
import { inNetns } from '../../src/kernel/test-run.js';
import { Netlink } from '../../src/host/netlink.js';

const NS_PREFIX = 'xlvs-host';

export class HostNetns implements SyncTeardown {
  readonly name: string;
  readonly peer: string;
  private readonly sockets: Netlink[] = [];

  private constructor() {
    const id = `${process.pid}-${randomBytes(3).toString('hex')}`;
    this.name = `${NS_PREFIX}-${id}`;
    this.peer = `${NS_PREFIX}-${id}0`;
  }

  /** a0 (10.9.0.1/24, fd09::1/64) here; b0 (10.9.0.2/24, 10.9.0.3/24, fd09::2/64, fd09::3/64) in the peer. */
  static create(): HostNetns {
    removeStaleFixtures(NS_PREFIX, 'xlvs-test-host');
    const n = new HostNetns();
    guard(n);
    try {
      execFileSync('ip', ['netns', 'add', n.name]);
      execFileSync('ip', ['netns', 'add', n.peer]);
      n.ip('link', 'set', 'lo', 'up');
      n.ip('link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'b0', 'netns', n.peer);
      n.ip('link', 'set', 'a0', 'up');
      n.ip('addr', 'add', '10.9.0.1/24', 'dev', 'a0');
      n.ip('addr', 'add', 'fd09::1/64', 'dev', 'a0', 'nodad');
      n.peerIp('link', 'set', 'b0', 'up');
      for (const a of ['10.9.0.2/24', '10.9.0.3/24']) n.peerIp('addr', 'add', a, 'dev', 'b0');
      for (const a of ['fd09::2/64', 'fd09::3/64']) n.peerIp('addr', 'add', a, 'dev', 'b0', 'nodad');
    } catch (e) {
      n.destroy();
      throw e;
    }
    return n;
  }

  get path(): string {
    return `/run/netns/${this.name}`;
  }

  /** `ip ARGS` in the namespace; its stdout. Throws (with ip's stderr) when ip fails. */
  ip(...args: string[]): string {
    return execFileSync('ip', ['-n', this.name, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** `ip -j ARGS` parsed ([] when ip prints nothing). */
  ipJson<T = Array<Record<string, unknown>>>(...args: string[]): T {
    const out = this.ip('-j', ...args).trim();
    return JSON.parse(out === '' ? '[]' : out) as T;
  }

  peerIp(...args: string[]): string {
    return execFileSync('ip', ['-n', this.peer, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** `sysctl -n NAME` in the namespace. */
  sysctl(name: string): string {
    return execFileSync('ip', ['netns', 'exec', this.name, 'sysctl', '-n', name], { encoding: 'utf8' }).trim();
  }

  /** A netlink socket inside the namespace (closed by destroy()). */
  netlink(opts: { timeoutMs?: number } = {}): Netlink {
    const nl = inNetns(this.path, () => Netlink.open(opts));
    this.sockets.push(nl);
    return nl;
  }

  /** Runs synchronous code with the thread in the namespace (for /proc/sys). */
  run<T>(fn: () => T): T {
    return inNetns(this.path, fn);
  }

  destroy(): void {
    unguard(this);
    for (const s of this.sockets) s.close();
    const problems: string[] = [];
    for (const ns of [this.name, this.peer]) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (e) {
        if (!/No such file/.test(String((e as { stderr?: Buffer }).stderr))) problems.push(`${ns}: ${(e as Error).message}`);
      }
    }
    if (problems.length > 0) throw new Error(`removing the test namespaces failed: ${problems.join('; ')}`);
  }

  teardownSync(): void {
    try {
      this.destroy();
    } catch (e) {
      console.error(e);
    }
  }
}

/** Polls fn (bounded) until it returns true; fails naming what was awaited. */
export async function waitFor(what: string, fn: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
