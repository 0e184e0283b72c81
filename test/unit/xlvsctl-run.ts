// SPDX-License-Identifier: Apache-2.0
// Running the xlvsctl binary in the API's unit tests: start it (its output so far, its end),
// run a one-shot command to its end, bounded, and end what a failed assertion left running.

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import assert from 'node:assert/strict';

export const XLVSCTL = new URL('../../src/cli/xlvsctl.js', import.meta.url).pathname;
/** How long a command may take to exit, and a condition to come true. */
export const WAIT_MS = 5000;

export interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running xlvsctl: its output so far, and its end. */
export interface Running {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  done: Promise<Done>;
}

export function start(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [XLVSCTL, ...args], { env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Done>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, out: () => stdout, done };
}

/** The child's end; fails after WAIT_MS rather than waiting on an xlvsctl that does not exit. */
export async function ended(r: Running, what: string): Promise<Done> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`xlvsctl did not exit within ${WAIT_MS} ms ${what} (stdout: ${JSON.stringify(r.out())})`)), WAIT_MS);
  });
  try {
    return await Promise.race([r.done, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Ends a child that a failed assertion left running, so the test run never hangs on it. */
export function reap(r: Running | undefined): void {
  if (r !== undefined && r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
}

/** Runs a one-shot xlvsctl command to its end (bounded: see ended()). */
export async function xlvsctl(args: string[], env: Record<string, string> = {}): Promise<Done> {
  const r = start(args, env);
  try {
    return await ended(r, `running ${args.join(' ')}`);
  } finally {
    reap(r);
  }
}

/** Polls `cond` every 10 ms; fails with `what` after WAIT_MS. */
export async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${WAIT_MS} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
