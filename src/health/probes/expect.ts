// SPDX-License-Identifier: Apache-2.0
// nanny-style send/expect strings for the health probes (issue 5). A send string carries the
// escapes \n \r \t \\ so a config line can hold a whole request; an expect is a literal substring,
// a /regex/flags, or `*` (any reply of at least one byte). Parsing happens once, when the check is
// set up, so a bad string is an InvalidArgumentError naming the field and value, never a failed
// check at run time.

import { InvalidArgumentError } from '../../errors.js';

/** How a reply is judged. Literals are matched on bytes, regexes on the reply decoded as UTF-8. */
export type Expect =
  | { readonly kind: 'any'; readonly source: string }
  | { readonly kind: 'literal'; readonly source: string; readonly bytes: Buffer }
  | { readonly kind: 'regex'; readonly source: string; readonly re: RegExp };

/** How much of a reply a failure reason quotes: enough to see what the server said. */
export const REASON_QUOTE_CHARS = 80;

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', '\\': '\\' };

// `g` and `y` make RegExp.test stateful (lastIndex), which would make a probe's verdict depend
// on the previous run; `d` only adds indices. The rest change what matches and are allowed.
const REGEX_FLAGS = /^[imsuv]*$/;

/** Replaces the nanny escapes; any other backslash sequence is refused rather than guessed at. */
export function unescapeProbeString(field: string, value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = value[i + 1];
    if (next === undefined) {
      throw new InvalidArgumentError(field, value, `ends with a lone backslash at offset ${i} (write \\\\ for a backslash)`);
    }
    const replacement = ESCAPES[next];
    if (replacement === undefined) {
      throw new InvalidArgumentError(field, value, `unknown escape \\${next} at offset ${i} (known: \\n \\r \\t \\\\)`);
    }
    out += replacement;
    i++;
  }
  return out;
}

/**
 * The bytes a probe sends (UTF-8 after unescaping). An empty string is a valid, empty payload.
 * A plain Uint8Array: @types/node 20's Buffer does not type-check as one for socket writes under
 * TypeScript 5.9.
 */
export function parseSend(field: string, value: unknown): Uint8Array {
  if (typeof value !== 'string') throw new InvalidArgumentError(field, value, 'must be a string');
  return new TextEncoder().encode(unescapeProbeString(field, value));
}

/** `*`, `/source/flags` or a literal (with the same escapes as send). Empty is refused. */
export function parseExpect(field: string, value: unknown): Expect {
  if (typeof value !== 'string') throw new InvalidArgumentError(field, value, 'must be a string');
  if (value === '') throw new InvalidArgumentError(field, value, 'must not be empty (use * for any reply)');
  if (value === '*') return { kind: 'any', source: value };
  const lastSlash = value.lastIndexOf('/');
  if (value.startsWith('/') && lastSlash > 0) {
    const source = value.slice(1, lastSlash);
    const flags = value.slice(lastSlash + 1);
    if (source === '') throw new InvalidArgumentError(field, value, 'empty regex');
    if (!REGEX_FLAGS.test(flags)) {
      throw new InvalidArgumentError(field, value, `regex flags "${flags}" not allowed (allowed: i m s u v)`);
    }
    try {
      return { kind: 'regex', source: value, re: new RegExp(source, flags) };
    } catch (err) {
      throw new InvalidArgumentError(field, value, `invalid regex: ${(err as Error).message}`);
    }
  }
  const text = unescapeProbeString(field, value);
  return { kind: 'literal', source: value, bytes: Buffer.from(text, 'utf8') };
}

/** True when the reply received so far satisfies the expectation. */
export function replyMatches(expect: Expect, reply: Buffer): boolean {
  switch (expect.kind) {
    case 'any':
      return reply.length > 0;
    case 'literal':
      return reply.includes(expect.bytes);
    case 'regex':
      return expect.re.test(reply.toString('utf8'));
  }
}

/** Quotes the start of a reply for a reason string, with control characters escaped. */
export function quoteReply(reply: Buffer): string {
  const text = reply.toString('utf8');
  const head = text.length > REASON_QUOTE_CHARS ? `${text.slice(0, REASON_QUOTE_CHARS)}…` : text;
  return JSON.stringify(head);
}

/** The reason a probe reports when a reply did not satisfy the expectation. */
export function mismatchReason(expect: Expect, reply: Buffer): string {
  if (reply.length === 0) return `no reply (expected ${describeExpect(expect)})`;
  return `reply did not match ${describeExpect(expect)} (got ${quoteReply(reply)}, ${reply.length} bytes)`;
}

function describeExpect(expect: Expect): string {
  switch (expect.kind) {
    case 'any':
      return 'any reply';
    case 'literal':
      return JSON.stringify(expect.bytes.toString('utf8'));
    case 'regex':
      return expect.source;
  }
}
