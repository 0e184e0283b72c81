// SPDX-License-Identifier: Apache-2.0
// Starting a peer's server (nginx, haproxy) and waiting for its listening socket inside a lab
// namespace: the peers have no readiness signal of their own when run in the foreground, and a
// connection attempt would cost a client process per try; `ss` lists the socket as soon as
// listen() returned.

import type { ChildProcess } from 'node:child_process';
import type { Lab } from '../../lab/lab.js';
import { captureStderr, hasExited, stopChild } from '../../lab/child.js';
import { BenchError } from '../common/errors.js';

const POLL_MS = 50;

export async function waitForListen(lab: Lab, ns: string, addr: string, port: number, child: ChildProcess, what: string, stderrTail: () => string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const want = `${addr}:${port}`;
  for (;;) {
    if (hasExited(child)) throw new BenchError(`${what} exited (code ${child.exitCode}, signal ${child.signalCode}) before listening on ${want} in ${ns}; stderr: ${stderrTail()}`);
    const { stdout } = await lab.exec(ns, ['ss', '-Hltn']);
    if (stdout.split('\n').some((l) => l.split(/\s+/).includes(want))) return;
    if (Date.now() > deadline) throw new BenchError(`${what} is not listening on ${want} in ${ns} after ${timeoutMs} ms; stderr: ${stderrTail()}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Starts a peer's server (argv, in the foreground so the lab kills it with the namespace) in ns
 * and resolves once it listens on addr:port; stops it again if it never does. Its stderr goes to
 * the debug log and into the error.
 */
export async function spawnListening(lab: Lab, ns: string, argv: string[], what: string, addr: string, port: number): Promise<ChildProcess> {
  const child = lab.spawn(ns, argv);
  const tail = captureStderr(child, (line) => lab.log.debug({ ns, line }, `${argv[0]} stderr`));
  child.stdout?.resume();
  try {
    await waitForListen(lab, ns, addr, port, child, what, tail);
  } catch (e) {
    await stopChild(child);
    throw e;
  }
  return child;
}
