// SPDX-License-Identifier: Apache-2.0
// A state file written so that a crash or a power cut leaves either the old or the new version,
// never an empty or half-written one, with the version before it kept as `<file>.prev`.
//
// write: the text goes to `<file>.tmp`, which is fsynced; the current file is hard-linked to
// `<file>.prev` (through `<file>.prev.tmp` and a rename, so `.prev` is always whole too); the tmp
// file is renamed over the current one; the directory is fsynced, which makes the renames stick.
// At no point is `<file>` missing or partial. read: the current file; when it is empty, cut short
// or invalid, `.prev` with a warning; when both are bad, StateFileDamagedError naming both.

import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { StateFileDamagedError, StateFileError } from '../errors.js';

/** Turns the file's text into its value; throws (an Error naming the file) when it is not valid. */
export type ParseState<T> = (text: string, file: string) => T;

export class DurableFile<T> {
  readonly prev: string;
  /**
   * False after a read fell back to `.prev`: the damaged current file must not become the next
   * `.prev` (the good one would be overwritten by it).
   */
  private currentGood = true;

  constructor(readonly file: string, private readonly parse: ParseState<T>, private readonly log: Pick<Logger, 'warn'>) {
    this.prev = `${file}.prev`;
  }

  /** The saved value: undefined when there is none (a first start). */
  read(): T | undefined {
    const text = readIfThere(this.file);
    if (text === undefined) {
      // Only a person removes it (write never leaves it missing): respected, but said.
      if (existsSync(this.prev)) this.log.warn({ file: this.file, prev: this.prev }, `${this.file} is missing; ${this.prev} is not used: remove it too to start clean`);
      return undefined;
    }
    let current: Error;
    try {
      return this.parseText(text, this.file);
    } catch (e) {
      current = e as Error;
    }
    const prevText = readIfThere(this.prev);
    if (prevText === undefined) throw current;
    try {
      const value = this.parseText(prevText, this.prev);
      this.currentGood = false;
      this.log.warn({ file: this.file, prev: this.prev, err: current }, `${current.message}; using the previous version ${this.prev}: the last change saved may be lost`);
      return value;
    } catch (e) {
      throw new StateFileDamagedError(this.file, current, e as Error);
    }
  }

  /** Saves text durably; throws when it could not (nothing changed then, or only .prev moved on). */
  write(text: string): void {
    const dir = dirname(this.file);
    mkdirSync(dir, { recursive: true });
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeFileSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (this.currentGood && existsSync(this.file)) {
      const prevTmp = `${this.prev}.tmp`;
      rmSync(prevTmp, { force: true });
      linkSync(this.file, prevTmp);
      renameSync(prevTmp, this.prev);
    }
    renameSync(tmp, this.file);
    fsyncDir(dir);
    this.currentGood = true;
  }

  private parseText(text: string, file: string): T {
    // A crash after an unsynced rename leaves an empty file: say so rather than "bad JSON".
    if (text.trim() === '') throw new StateFileError(file, ': empty (cut short by a crash?)');
    return this.parse(text, file);
  }
}

function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
