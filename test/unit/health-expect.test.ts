// SPDX-License-Identifier: Apache-2.0
// Health probes' send/expect strings (src/health/probes/expect.ts): nanny escapes, the three kinds
// of expect, matching on partial replies, precise errors and failure reasons.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors.js';
import {
  REASON_QUOTE_CHARS, mismatchReason, parseExpect, parseSend, replyMatches, unescapeProbeString,
} from '../../src/health/probes/expect.js';

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');

test('send strings: \\n \\r \\t \\\\ are replaced, everything else is kept as written', () => {
  assert.equal(unescapeProbeString('send', 'GET / HTTP/1.0\\r\\n\\r\\n'), 'GET / HTTP/1.0\r\n\r\n');
  assert.equal(unescapeProbeString('send', 'a\\tb'), 'a\tb');
  assert.equal(unescapeProbeString('send', 'C:\\\\dir'), 'C:\\dir');
  assert.equal(unescapeProbeString('send', '\\\\n'), '\\n'); // an escaped backslash, then a plain n
  assert.equal(unescapeProbeString('send', 'plain'), 'plain');
  assert.equal(unescapeProbeString('send', ''), '');
  assert.deepEqual([...parseSend('send', 'hi\\n')], [0x68, 0x69, 0x0a]);
  assert.deepEqual([...parseSend('send', 'é')], [0xc3, 0xa9]); // UTF-8 on the wire
  assert.equal(parseSend('send', '').length, 0);
});

test('send strings: an unknown escape or a lone backslash names the field, value and offset', () => {
  assert.throws(() => parseSend('checks[0].send', 'a\\xb'), (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError);
    assert.equal(err.code, 'E_INVALID_ARGUMENT');
    assert.equal(err.field, 'checks[0].send');
    assert.equal(err.value, 'a\\xb');
    assert.match(err.message, /^checks\[0\]\.send: unknown escape \\x at offset 1 .*\(got "a\\\\xb"\)$/);
    return true;
  });
  assert.throws(() => parseSend('send', 'abc\\'), /send: ends with a lone backslash at offset 3/);
  assert.throws(() => parseSend('send', 42), (err: unknown) => err instanceof InvalidArgumentError && /send: must be a string \(got 42\)/.test(err.message));
});

test('expect: * is any reply of at least one byte', () => {
  const e = parseExpect('expect', '*');
  assert.equal(e.kind, 'any');
  assert.equal(replyMatches(e, bytes('x')), true);
  assert.equal(replyMatches(e, Buffer.alloc(0)), false);
  assert.equal(mismatchReason(e, Buffer.alloc(0)), 'no reply (expected any reply)');
});

test('expect: a literal is a substring, with the send escapes applied', () => {
  const e = parseExpect('expect', 'HTTP/1.1 200');
  assert.equal(e.kind, 'literal');
  assert.equal(replyMatches(e, bytes('HTTP/1.1 200 OK\r\n')), true);
  assert.equal(replyMatches(e, bytes('xx HTTP/1.1 200')), true);
  assert.equal(replyMatches(e, bytes('HTTP/1.1 500 Oops')), false);
  assert.equal(replyMatches(e, bytes('HTTP/1.1 20')), false); // a partial reply is not yet a match
  const crlf = parseExpect('expect', 'OK\\r\\n');
  assert.equal(replyMatches(crlf, bytes('+OK\r\n')), true);
  assert.equal(replyMatches(crlf, bytes('+OK\n')), false);
  // A string that only looks like a regex on one side stays a literal.
  assert.equal(parseExpect('expect', '/').kind, 'literal');
  assert.equal(parseExpect('expect', 'a/b/').kind, 'literal');
  assert.equal(parseExpect('expect', '**').kind, 'literal');
});

test('expect: /regex/flags is a RegExp over the reply as UTF-8', () => {
  const e = parseExpect('expect', '/^\\+OK .*ready/i');
  assert.equal(e.kind, 'regex');
  assert.equal(replyMatches(e, bytes('+ok POP3 server READY\r\n')), true);
  assert.equal(replyMatches(e, bytes('-ERR no\r\n')), false);
  const slash = parseExpect('expect', '/a\\/b/');
  assert.equal(replyMatches(slash, bytes('xa/by')), true);
  // Without the g flag the verdict never depends on a previous call.
  const again = parseExpect('expect', '/ok/');
  for (let i = 0; i < 3; i++) assert.equal(replyMatches(again, bytes('ok')), true);
});

test('expect: bad values name the field and value', () => {
  const cases: [unknown, RegExp][] = [
    ['', /expect: must not be empty \(use \* for any reply\) \(got ""\)/],
    ['/(/', /expect: invalid regex: .* \(got "\/\(\/"\)/],
    ['/x/g', /expect: regex flags "g" not allowed \(allowed: i m s u v\)/],
    ['/x/y', /regex flags "y" not allowed/],
    ['/x/q', /regex flags "q" not allowed/],
    ['//i', /expect: empty regex/],
    ['a\\qb', /expect: unknown escape \\q at offset 1/],
    [null, /expect: must be a string \(got null\)/],
  ];
  for (const [value, re] of cases) {
    assert.throws(() => parseExpect('expect', value), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError, String(value));
      assert.equal(err.field, 'expect');
      assert.match(err.message, re);
      return true;
    });
  }
});

test('mismatch reasons quote the start of the reply, escaped, and its length', () => {
  const re = parseExpect('expect', '/^220 /');
  assert.equal(mismatchReason(re, bytes('554 go away\r\n')), 'reply did not match /^220 / (got "554 go away\\r\\n", 13 bytes)');
  const lit = parseExpect('expect', 'pong');
  assert.equal(mismatchReason(lit, bytes('ping')), 'reply did not match "pong" (got "ping", 4 bytes)');
  const long = 'z'.repeat(REASON_QUOTE_CHARS + 50);
  const reason = mismatchReason(lit, bytes(long));
  assert.ok(reason.includes(`"${'z'.repeat(REASON_QUOTE_CHARS)}…"`), reason);
  assert.ok(reason.endsWith(`, ${long.length} bytes)`), reason);
});
