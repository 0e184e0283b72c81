// SPDX-License-Identifier: Apache-2.0
// A lab's real servers (realserver.ts), one per real namespace: started through the lab's spawn,
// so the lab kills them on destroy, and each may be stopped and started again by index.

import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LabError } from './errors.js';
import { captureStderr, hasExited, stopChild, waitForLine } from './child.js';
import type { NamespaceLab } from './namespace-lab.js';

const REALSERVER_JS = fileURLToPath(new URL('./realserver.js', import.meta.url));
const READY_TIMEOUT_MS = 10_000;

export class RealServers {
  private readonly running: Array<ChildProcess | undefined>;

  /** `flags` are realserver.ts flags added to every server's command line. */
  constructor(
    private readonly lab: NamespaceLab,
    private readonly namespaces: readonly string[],
    private readonly flags: readonly string[] = [],
  ) {
    this.running = new Array<ChildProcess | undefined>(namespaces.length).fill(undefined);
  }

  /** Starts every server that is not running; resolves once all print READY. */
  async startAll(): Promise<void> {
    await Promise.all(this.namespaces.map((_, i) => this.start(i)));
  }

  /** Starts server `i` (0-based: 0 is rs1); a no-op if it runs already. */
  async start(i: number): Promise<void> {
    const ns = this.nsOf(i);
    const running = this.running[i];
    if (running !== undefined && !hasExited(running)) return;
    const name = `rs${i + 1}`;
    // With --exit-on-stdin-close the server dies with us even if we are SIGKILLed; dual-stack, so
    // the same servers answer an IPv6 VIP.
    const child = this.lab.spawn(ns, [process.execPath, REALSERVER_JS, '--name', name, ...this.flags, '--dual-stack', '1', '--exit-on-stdin-close', '1']);
    const log = this.lab.log;
    const tail = captureStderr(child, (line) => log.debug({ real: name, line }, 'real server stderr'));
    this.running[i] = child;
    child.on('exit', (code, signal) => log.debug({ real: name, code, signal }, 'real server exited'));
    try {
      await waitForLine(child, 'READY', READY_TIMEOUT_MS, tail);
    } catch (err) {
      await stopChild(child);
      throw new LabError(`real server ${name} did not start: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /** Stops server `i` (0-based) and waits until it has exited; a no-op if it is not running. */
  async stop(i: number): Promise<void> {
    this.nsOf(i);
    const child = this.running[i];
    this.running[i] = undefined;
    if (child !== undefined) await stopChild(child);
  }

  private nsOf(i: number): string {
    const ns = this.namespaces[i];
    if (!Number.isInteger(i) || ns === undefined) throw new LabError(`no real server with index ${i} (0..${this.namespaces.length - 1})`);
    return ns;
  }
}
