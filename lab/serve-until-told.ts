// SPDX-License-Identifier: Apache-2.0
// The end of a lab server process (real server, check target, peer echo server): exit on SIGTERM
// or SIGINT, and, when asked, when stdin closes, so a lab whose creator died (even SIGKILLed)
// leaves no server behind; then tell the parent it is listening.

import type { Logger } from 'pino';

export function serveUntilTold(log: Pick<Logger, 'debug' | 'warn'>, what: string, exitOnStdinClose: boolean): void {
  const stop = (why: string): void => {
    log.debug({ why }, `${what} stopping`);
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (exitOnStdinClose) {
    process.stdin.on('end', () => stop('stdin closed'));
    process.stdin.on('error', (err) => {
      log.warn({ err }, 'stdin error');
      stop('stdin error');
    });
    process.stdin.resume();
  }
  process.stdout.write('READY\n');
}
