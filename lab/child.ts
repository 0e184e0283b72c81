// SPDX-License-Identifier: Apache-2.0
// Helpers for the long-lived processes the lab starts (real servers, hold clients).

import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { LabError } from './errors.js';

/** How long a child gets to exit after SIGTERM before it is SIGKILLed. */
export const STOP_GRACE_MS = 2_000;
const STDERR_TAIL_CHARS = 4_000;

export const hasExited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;

/** Keeps the last few KB of a child's stderr for error messages; hands each line to `onLine`. */
export function captureStderr(child: ChildProcess, onLine: (line: string) => void): () => string {
  let tail = '';
  if (child.stderr !== null) {
    createInterface({ input: child.stderr }).on('line', (line) => {
      tail = (tail + line + '\n').slice(-STDERR_TAIL_CHARS);
      onLine(line);
    });
  }
  return () => tail;
}

/** SIGTERM, then SIGKILL after the grace period; resolves once the process has exited. */
export async function stopChild(child: ChildProcess, graceMs = STOP_GRACE_MS): Promise<void> {
  if (hasExited(child) || child.pid === undefined) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (!hasExited(child)) child.kill('SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

/** Resolves when the child prints exactly `want` on a stdout line; rejects on exit or timeout. */
export function waitForLine(child: ChildProcess, want: string, timeoutMs: number, stderrTail: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (child.stdout === null) {
      reject(new LabError('child has no stdout pipe to wait on'));
      return;
    }
    const lines = createInterface({ input: child.stdout });
    const done = (err?: Error): void => {
      clearTimeout(timer);
      child.off('exit', onExit);
      lines.off('line', onLine);
      lines.close();
      if (err) reject(err);
      else resolve();
    };
    const onLine = (line: string): void => {
      if (line.trim() === want) done();
    };
    const onExit = (code: number | null, signal: string | null): void =>
      done(new LabError(`process exited (code ${code}, signal ${signal}) before printing ${want}; stderr: ${stderrTail()}`));
    const timer = setTimeout(() => done(new LabError(`no ${want} within ${timeoutMs} ms; stderr: ${stderrTail()}`)), timeoutMs);
    lines.on('line', onLine);
    child.on('exit', onExit);
  });
}
