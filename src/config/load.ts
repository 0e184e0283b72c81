// SPDX-License-Identifier: Apache-2.0
// Reading the xlvsd config file: YAML text → Config, or a ConfigError saying where and why.

import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import type { Node, YAMLError } from 'yaml';
import { ConfigError } from '../errors.js';
import { readConfig } from './schema.js';
import type { Config } from './schema.js';
import { Walker } from './yaml-walk.js';

export type { Config, XdpConfig } from './schema.js';

/** Parses and validates config text; `file` only names the source in errors. */
export function parseConfig(text: string, file: string): Config {
  // Editors do not count a byte-order mark as a column; neither should our positions.
  const src = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const lines = new LineCounter();
  const doc = parseDocument(src, {
    keepSourceTokens: true,
    lineCounter: lines,
    prettyErrors: false, // we format positions ourselves
    uniqueKeys: false, // Walker.fields reports duplicates with their field path
  });
  // Warnings (e.g. an unknown !tag) are treated as errors: a config must mean one thing.
  const problems: YAMLError[] = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    const first = problems.reduce((a, b) => (b.pos[0] < a.pos[0] ? b : a));
    const { line, col } = lines.linePos(first.pos[0]);
    const lineText = src.slice(lines.lineStarts[line - 1] ?? 0).split(/\r?\n/, 1)[0] ?? '';
    throw new ConfigError(file, line, col, '(yaml)', lineText.trim(), first.message);
  }
  return readConfig(new Walker(file, doc, lines), (doc.contents as Node | null) ?? null);
}

/** Reads and parses a config file. An unreadable file is a ConfigError at 0:0, field `(file)`. */
export async function loadConfig(path: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(path, 0, 0, '(file)', path, `cannot read: ${reason}`);
  }
  return parseConfig(text, path);
}
