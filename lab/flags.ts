// SPDX-License-Identifier: Apache-2.0
// A tiny `--name value` parser for the lab's helper programs. They are run by the lab itself,
// so a wrong flag is a bug in the caller: fail loudly instead of guessing.

import { InvalidArgumentError } from '../src/errors.js';

export type FlagSpec = Record<string, 'string' | 'int'>;
export type Flags = Record<string, string | number | undefined>;

export function parseFlags(argv: readonly string[], spec: FlagSpec): Flags {
  const out: Flags = {};
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const name = flag.startsWith('--') ? flag.slice(2) : undefined;
    const kind = name === undefined ? undefined : spec[name];
    if (name === undefined || kind === undefined) {
      throw new InvalidArgumentError('flag', flag, `unknown flag; expected one of ${Object.keys(spec).map((k) => `--${k}`).join(' ')}`);
    }
    const raw = argv[i + 1];
    if (raw === undefined) throw new InvalidArgumentError(flag, raw, 'missing value');
    if (kind === 'int') {
      const n = Number(raw);
      if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(flag, raw, 'not a non-negative integer');
      out[name] = n;
    } else {
      out[name] = raw;
    }
  }
  return out;
}

export function requireString(flags: Flags, name: string): string {
  const v = flags[name];
  if (typeof v !== 'string' || v === '') throw new InvalidArgumentError(`--${name}`, v, 'required');
  return v;
}

export function intFlag(flags: Flags, name: string, fallback?: number): number {
  const v = flags[name] ?? fallback;
  if (typeof v !== 'number') throw new InvalidArgumentError(`--${name}`, v, 'required integer');
  return v;
}
