// SPDX-License-Identifier: Apache-2.0
// A pinned map's entries as bpftool reads them (the kernel's view, not our own code), for tests
// that read a map the daemon changes meanwhile (its reaper deletes expired entries).

import { execFileSync } from 'node:child_process';

interface DumpedEntry<T> {
  formatted?: T;
  value?: unknown;
}

/**
 * The BTF-formatted copy of every entry `bpftool -j map dump pinned <path>` lists. bpftool walks
 * the keys, then looks each one up: an entry deleted in between is listed with an error for its
 * value ({"key": [...], "value": {"error": "No such file or directory"}}, strerror(ENOENT)) and no
 * formatted copy. It is no longer in the map, so it is left out; any other entry without a
 * formatted copy is an error.
 */
export function bpftoolDump<T>(path: string): T[] {
  const raw = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', path], { encoding: 'utf8' })) as DumpedEntry<T>[];
  const out: T[] = [];
  for (const e of raw) {
    if (e.formatted !== undefined) out.push(e.formatted);
    else if (typeof e.value === 'object' && e.value !== null && (e.value as { error?: unknown }).error === 'No such file or directory') continue;
    else throw new Error(`bpftool listed an entry of ${path} with neither a formatted copy nor a lookup error: ${JSON.stringify(e)}`);
  }
  return out;
}
