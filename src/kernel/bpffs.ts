// SPDX-License-Identifier: Apache-2.0
// bpffs: where programs, links and maps are pinned so they outlive the daemon.

import { mkdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { lib, checkLibc } from './libbpf.js';
import { libc } from './libc.js';
import { BpffsError } from '../errors.js';

export const DEFAULT_BPFFS = '/sys/fs/bpf';

/** Mount points of type bpf in this mount namespace. */
function bpfMounts(): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'bpf')
    .map((f) => f[1]!);
}

/** Makes sure `dir` lives on a bpffs, mounting one at /sys/fs/bpf when none is (it is not at boot). */
export function ensureBpffs(dir: string): void {
  const mounts = bpfMounts();
  if (!mounts.some((m) => dir === m || dir.startsWith(m.endsWith('/') ? m : m + '/'))) {
    if (!dir.startsWith(DEFAULT_BPFFS + '/')) {
      throw new BpffsError(dir, mounts);
    }
    mkdirSync(DEFAULT_BPFFS, { recursive: true });
    checkLibc('mount bpffs', libc.mount('bpf', DEFAULT_BPFFS, 'bpf', 0, null), DEFAULT_BPFFS);
  }
  mkdirSync(dir, { recursive: true });
}

export function pinExists(path: string): boolean {
  return existsSync(path);
}

/** Removes a pin (or a directory of pins). The object lives on while something else holds it. */
export function unpin(path: string): void {
  rmSync(path, { recursive: true, force: true });
}
