// SPDX-License-Identifier: Apache-2.0
// One xlvsd owns a pin dir. The lock is flock(2) on the pin dir itself, not on a lock file:
// bpffs holds no regular files (creating one fails with EPERM), but a directory of it can be
// opened and flocked. Locking the directory keys the lock by the very object the daemons share
// (two paths to one bpffs, a bind mount, a symlink: one lock), needs no run dir, and leaves no
// stale file. The kernel drops a flock with the last descriptor of its open file, so the lock
// dies with its process, kill -9 included (Node opens with O_CLOEXEC: probes xlvsd spawns do not
// inherit it). The holder's PID is the kernel's own record of it, /proc/locks.

import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, statSync, constants, type BigIntStats } from 'node:fs';
import { libc, errno } from './libc.js';
import { BpfError, PinDirOwnedError } from '../errors.js';

const LOCK_EX = 2;
const LOCK_NB = 4;
const EINTR = 4;
const EWOULDBLOCK = 11;
/** A teardown may remove the dir between our open and our lock; that many tries, then give up. */
const ATTEMPTS = 5;

export interface PinDirLockOptions {
  /** Make the dir when it is missing (a starting daemon); else a missing dir is not locked (teardown). */
  create: boolean;
  /** What the refusal says we do instead: "refusing to start", "refusing to tear it down". */
  action?: string;
}

export class PinDirLock {
  private constructor(readonly dir: string, private fd: number | undefined) {}

  /**
   * Takes the pin dir's lock without waiting; PinDirOwnedError (E_PIN_DIR_OWNED) naming the
   * holder's PID when another process has it. Undefined when the dir is missing and not created.
   */
  static acquire(dir: string, opts: PinDirLockOptions): PinDirLock | undefined {
    for (let attempt = 1; ; attempt++) {
      if (opts.create) mkdirSync(dir, { recursive: true });
      let fd: number;
      try {
        fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
      } catch (e) {
        if (!opts.create && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
      const held = fstatSync(fd, { bigint: true });
      let rc: number;
      do rc = libc.flock(fd, LOCK_EX | LOCK_NB) as number;
      while (rc < 0 && errno() === EINTR);
      if (rc < 0) {
        const err = errno();
        closeSync(fd);
        if (err === EWOULDBLOCK) throw new PinDirOwnedError(dir, lockHolder(held), opts.action);
        throw new BpfError('flock', err, dir);
      }
      // The lock must be on the directory the path names now, not on one a teardown removed.
      if (sameInode(held, dir)) return new PinDirLock(dir, fd);
      closeSync(fd);
      if (attempt >= ATTEMPTS) throw new PinDirOwnedError(dir, undefined, opts.action);
    }
  }

  /** Drops the lock (closing the descriptor is what releases a flock). */
  release(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

function sameInode(held: BigIntStats, dir: string): boolean {
  try {
    const now = statSync(dir, { bigint: true });
    return now.dev === held.dev && now.ino === held.ino;
  } catch {
    return false;
  }
}

/** The PID /proc/locks gives for the flock on that inode ("1: FLOCK ADVISORY WRITE 1234 00:28:1 0 EOF"). */
function lockHolder(st: BigIntStats): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/locks', 'utf8');
  } catch {
    return undefined;
  }
  return holderIn(text, st.dev, st.ino);
}

/** Pure part of lockHolder: the kernel prints the device as MAJOR:MINOR in hex, the inode in decimal. */
export function holderIn(procLocks: string, dev: bigint, ino: bigint): number | undefined {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  const want = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${ino}`;
  for (const line of procLocks.split('\n')) {
    const f = line.trim().split(/\s+/);
    // Waiters print "->" after the index; a non-blocking lock never waits, but skip them anyway.
    if (f[1] !== 'FLOCK' || f[5] !== want) continue;
    const pid = Number(f[4]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }
  return undefined;
}
