// SPDX-License-Identifier: Apache-2.0
// Reading the xlvsd config file: YAML text → Config, or a ConfigError saying where and why.

import { readFile } from 'node:fs/promises';
import { Composer, LineCounter, Parser, YAMLParseError } from 'yaml';
import type { CST, Document, Node, YAMLError } from 'yaml';
import { ConfigError } from '../errors.js';
import { readConfig } from './schema.js';
import type { Config } from './schema.js';
import { Walker } from './yaml-walk.js';

export type { Config, XdpConfig } from './schema.js';

/**
 * The longest value (scalar, alias, anchor or tag, as written) a config may hold. Nothing in a
 * config is near this long; yaml takes seconds and gigabytes to decode a 50 MB quoted string.
 */
export const MAX_VALUE_CHARS = 1024 * 1024;

/** Token types whose source is a value (or names one). */
const VALUE_TOKENS = new Set(['scalar', 'single-quoted-scalar', 'double-quoted-scalar', 'block-scalar', 'alias', 'anchor', 'tag']);

/**
 * The first value longer than MAX_VALUE_CHARS, found in yaml's concrete syntax tree (nothing is
 * decoded yet). An explicit stack: nesting depth costs no call stack.
 */
function firstLongValue(tokens: readonly CST.Token[]): { offset: number; source: string } | undefined {
  let found: { offset: number; source: string } | undefined;
  const stack: unknown[] = [...tokens];
  while (stack.length > 0) {
    const t = stack.pop();
    if (t === null || typeof t !== 'object') continue;
    if (Array.isArray(t)) {
      for (const x of t) stack.push(x); // not push(...t): a long list would overflow the arguments
      continue;
    }
    const tok = t as { type?: unknown; offset?: unknown; source?: unknown };
    if (VALUE_TOKENS.has(tok.type as string) && typeof tok.source === 'string' && tok.source.length > MAX_VALUE_CHARS
      && typeof tok.offset === 'number' && (found === undefined || tok.offset < found.offset)) {
      found = { offset: tok.offset, source: tok.source };
    }
    for (const v of Object.values(t)) if (v !== null && typeof v === 'object') stack.push(v);
  }
  return found;
}

/** Parses and validates config text; `file` only names the source in errors. */
export function parseConfig(text: string, file: string): Config {
  // Editors do not count a byte-order mark as a column; neither should our positions.
  const src = text.startsWith('\uFEFF') ? text.slice(1) : text;
  // yaml's parseDocument in two steps, so that values are measured before they are decoded.
  const lines = new LineCounter();
  const tokens = [...new Parser(lines.addNewLine).parse(src)];
  const long = firstLongValue(tokens);
  if (long !== undefined) {
    const { line, col } = lines.linePos(long.offset);
    throw new ConfigError(file, line, col, '(yaml)', long.source, `a value is at most ${MAX_VALUE_CHARS} characters as written`);
  }
  const doc = composeOne(tokens, src.length);
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

/** The first document of `tokens`, a second one an error (as yaml's parseDocument does it). */
function composeOne(tokens: readonly CST.Token[], length: number): Document.Parsed {
  const composer = new Composer({
    keepSourceTokens: true,
    uniqueKeys: false, // Walker.fields reports duplicates with their field path
  });
  let doc: Document.Parsed | undefined;
  for (const next of composer.compose(tokens, true, length)) {
    if (doc === undefined) doc = next;
    else {
      const at: [number, number] = [next.range[0], next.range[1]];
      doc.errors.push(new YAMLParseError(at, 'MULTIPLE_DOCS', 'Source contains multiple documents; please use YAML.parseAllDocuments()'));
      break;
    }
  }
  return doc!; // compose(…, true) ends with a document, an empty one at least
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
