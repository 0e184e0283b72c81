// SPDX-License-Identifier: Apache-2.0
// Running commands for the lab: always argv arrays (no shell), always bounded in time.

import { execFile } from 'node:child_process';
import { CommandError } from './errors.js';

/** Where `ip netns add` bind-mounts named namespaces. */
export const NETNS_DIR = '/run/netns';

export const DEFAULT_COMMAND_TIMEOUT_MS = 15_000;

/**
 * argv that runs `cmd` inside a named network namespace. nsenter switches only the network
 * namespace; `ip netns exec` would also remount /sys, which hides /sys/fs/bpf from the daemon.
 */
export function nsArgv(ns: string, cmd: readonly string[]): string[] {
  return ['nsenter', `--net=${NETNS_DIR}/${ns}`, '--', ...cmd];
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs argv to completion; rejects with CommandError on a non-zero exit, a signal or a timeout. */
export function run(argv: readonly string[], timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS): Promise<RunResult> {
  const [file, ...args] = argv;
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err === null) {
          resolve({ stdout, stderr });
          return;
        }
        // execFile's error carries the exit code (number), or a string errno code like ENOENT
        // when the program could not be started at all.
        const e = err as Omit<NodeJS.ErrnoException, 'code'> & {
          code?: number | string;
          signal?: NodeJS.Signals | null;
          killed?: boolean;
        };
        const exitCode = typeof e.code === 'number' ? e.code : null;
        const why = typeof e.code === 'string' ? `${e.code} ${e.message}` : stderr;
        const signal = e.killed === true ? `SIGKILL (timed out after ${timeoutMs} ms)` : (e.signal ?? null);
        reject(new CommandError(argv, exitCode, signal, why, stdout, { cause: err }));
      },
    );
  });
}
