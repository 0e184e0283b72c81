// SPDX-License-Identifier: Apache-2.0
// Errors raised by the namespace lab (test and demo harness, never the daemon).

import { XlvsError } from '../src/errors.js';

/** Building, driving or tearing down the namespace lab failed; the message names the step. */
export class LabError extends XlvsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_LAB', message, options);
  }
}

/** A command the lab ran failed; keeps its argv, exit status and stderr for the caller to inspect. */
export class CommandError extends LabError {
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly stderr: string,
    readonly stdout = '',
    options?: { cause?: unknown },
  ) {
    const how = signal !== null ? `killed by ${signal}` : `exited with ${exitCode}`;
    const tail = stderr.trim() === '' ? '' : `: ${stderr.trim().slice(-2000)}`;
    super(`\`${argv.join(' ')}\` ${how}${tail}`, options);
  }
}
