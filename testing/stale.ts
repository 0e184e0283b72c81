// SPDX-License-Identifier: Apache-2.0
// Leftovers of fixture runs whose process died before its after() hook: network namespaces
// named `<nsPrefix>-<pid>-<hex>` and pin dirs `/sys/fs/bpf/<pinPrefix>-<pid>-<hex>` whose pid is
// gone. Only names of that exact shape with a dead pid are ever touched.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { unpin } from '../src/kernel/bpffs.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // ESRCH: that run is gone; anything else (EPERM) means someone has the pid.
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function stale(name: string, prefix: string): boolean {
  const m = new RegExp(`^${prefix}-(\\d+)-[0-9a-f]+$`).exec(name);
  return m !== null && !alive(Number(m[1]));
}

/** Deletes the stale namespaces and pin dirs of one fixture family. */
export function removeStaleFixtures(nsPrefix: string, pinPrefix: string): void {
  if (existsSync('/run/netns')) {
    for (const name of readdirSync('/run/netns')) {
      if (stale(name, nsPrefix)) execFileSync('ip', ['netns', 'del', name], { stdio: ['ignore', 'ignore', 'pipe'] });
    }
  }
  for (const name of readdirSync('/sys/fs/bpf')) if (stale(name, pinPrefix)) unpin(`/sys/fs/bpf/${name}`);
}
