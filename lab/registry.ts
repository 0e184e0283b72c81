// SPDX-License-Identifier: Apache-2.0
// Who made which lab. Each lab records its creator (pid + start time, so a recycled pid does not
// look alive) in /run/xlvs-lab/<prefix>.json *before* adding any namespace; a lab namespace whose
// record is missing or whose creator is dead is debris from a crashed run.

import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { NETNS_DIR, run } from './proc.js';
import { CommandError, LabError } from './errors.js';

export const REGISTRY_DIR = '/run/xlvs-lab';
/** A lab prefix: `xlvs-` + lowercase words + `-`. */
export const PREFIX_PATTERN = /^xlvs-[0-9a-z][0-9a-z-]*-$/;
/** A lab namespace: prefix + role. Namespaces named otherwise are never touched. */
const NAMESPACE_PATTERN = /^(xlvs-[0-9a-z][0-9a-z-]*-)(cli|rtr|lan|rs[0-9]+)$/;

export interface CreatorRecord {
  prefix: string;
  pid: number;
  /** Field 22 of /proc/<pid>/stat: distinguishes our process from a later one with its pid. */
  startTime: string;
  namespaces: string[];
}

// `xlvs-ab12-` is recorded in /run/xlvs-lab/xlvs-ab12.json.
const recordPath = (prefix: string): string => join(REGISTRY_DIR, `${prefix.slice(0, -1)}.json`);

/** The kernel's start time of a process, or undefined when it does not exist. */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19]; // fields[0] is field 3
}

export async function writeRecord(prefix: string, namespaces: string[]): Promise<void> {
  const startTime = processStartTime(process.pid);
  if (startTime === undefined) throw new LabError('cannot read our own /proc/self/stat');
  const rec: CreatorRecord = { prefix, pid: process.pid, startTime, namespaces };
  await mkdir(REGISTRY_DIR, { recursive: true });
  await writeFile(recordPath(prefix), `${JSON.stringify(rec)}\n`);
}

export async function removeRecord(prefix: string): Promise<void> {
  await rm(recordPath(prefix), { force: true });
}

export function removeRecordSync(prefix: string, log: Logger): void {
  try {
    rmSync(recordPath(prefix), { force: true });
  } catch (err) {
    log.error({ err, prefix }, 'removing lab record failed');
  }
}

async function readRecord(prefix: string, log: Logger): Promise<CreatorRecord | undefined> {
  let text: string;
  try {
    text = await readFile(recordPath(prefix), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as CreatorRecord;
  } catch (err) {
    log.warn({ err, prefix }, 'unreadable lab record; treating the lab as stale');
    return undefined;
  }
}

const creatorAlive = (rec: CreatorRecord): boolean => processStartTime(rec.pid) === rec.startTime;

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Names of every namespace currently in /run/netns. */
export const listNamespaces = (): Promise<string[]> => listDir(NETNS_DIR);

/** Kills every process still inside a namespace (it would otherwise keep the namespace alive). */
export async function killNamespacePids(ns: string, log: Logger): Promise<number[]> {
  const { stdout } = await run(['ip', 'netns', 'pids', ns]);
  const pids = stdout.split(/\s+/).filter((s) => s !== '').map(Number);
  for (const pid of pids) killQuietly(pid, log);
  return pids;
}

/** SIGKILL a pid; a pid that already exited is fine, anything else is logged. */
export function killQuietly(pid: number, log: Logger): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') log.error({ err, pid }, 'kill failed');
  }
}

/** `ip netns del`; true if deleted, false if it was already gone. Other failures throw. */
export async function deleteNamespace(ns: string): Promise<boolean> {
  try {
    await run(['ip', 'netns', 'del', ns]);
    return true;
  } catch (err) {
    if (err instanceof CommandError && /No such file or directory/.test(err.stderr)) return false;
    throw err;
  }
}

/**
 * Deletes lab namespaces (`xlvs-<id>-<role>`) whose creating process is gone, killing whatever
 * still runs inside them, and drops dead creators' records. Returns the namespaces removed.
 */
export async function removeStaleLabs(log: Logger): Promise<string[]> {
  const byPrefix = new Map<string, Set<string>>();
  for (const name of await listNamespaces()) {
    const m = NAMESPACE_PATTERN.exec(name);
    if (m === null) continue;
    const set = byPrefix.get(m[1]) ?? new Set<string>();
    set.add(name);
    byPrefix.set(m[1], set);
  }
  for (const file of await listDir(REGISTRY_DIR)) {
    if (!file.endsWith('.json')) continue;
    const prefix = `${file.slice(0, -'.json'.length)}-`;
    if (PREFIX_PATTERN.test(prefix) && !byPrefix.has(prefix)) byPrefix.set(prefix, new Set());
  }

  const removed: string[] = [];
  for (const [prefix, names] of byPrefix) {
    const rec = await readRecord(prefix, log);
    if (rec !== undefined && creatorAlive(rec)) continue;
    for (const ns of names) {
      const pids = await killNamespacePids(ns, log);
      if (await deleteNamespace(ns)) removed.push(ns);
      log.info({ ns, killed: pids, creator: rec?.pid }, 'removed stale lab namespace');
    }
    await removeRecord(prefix);
  }
  return removed;
}
