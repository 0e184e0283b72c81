// SPDX-License-Identifier: Apache-2.0
// What the config loader's unit tests share: config text built line by line (so a test's line
// numbers can be read straight off its array) and the check that a text is refused with exactly
// the position, field, value and reason expected.

import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors.js';
import { parseConfig } from '../../src/config/index.js';

/** Joins lines into a config file's text. */
export const y = (...lines: string[]): string => lines.join('\n') + '\n';

/** The interfaces section every config needs: lines 1..3. */
export const IFACES = ['interfaces:', '  public: pub0', '  private: priv0'];

export interface ConfigErrorWant {
  line: number;
  column: number;
  field: string;
  value: unknown;
  reason: string;
}

/** Parses `text` as t.yaml and asserts it is refused with a ConfigError (E_CONFIG) saying exactly `want`. */
export function expectConfigError(text: string, want: ConfigErrorWant): ConfigError {
  let caught: unknown;
  try {
    parseConfig(text, 't.yaml');
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  const { line, column, field, value, reason } = caught;
  assert.deepEqual({ line, column, field, value, reason }, want);
  assert.equal(caught.file, 't.yaml');
  assert.equal(caught.code, 'E_CONFIG');
  return caught;
}
