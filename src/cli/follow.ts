// SPDX-License-Identifier: Apache-2.0
// xlvsctl's watch commands (health watch, ha watch): print a stream's events until interrupted.

import { ApiCallError } from '../api/client.js';

/** Starts a watch: events to onEvent, a broken stream to onError; returns its cancel. */
export type StartWatch<E> = (onEvent: (e: E) => void, onError: (err: Error) => void) => () => void;

/**
 * A transport error on an open watch reads "cannot reach xlvsd ...: Connection dropped", which
 * sounds as if it never started: say it was the watch that broke. The client's own end-of-stream
 * error already says so ("health watch ended ..."), and keeps its words, as does the daemon's
 * refusal to start one (E_HA_OFF).
 */
function watchBroken(what: string, err: Error): Error {
  if (!(err instanceof ApiCallError) || err.message.startsWith(what) || err.code.startsWith('E_HA_')) return err;
  return new ApiCallError(err.grpcCode, err.code, `${what} broken: ${err.message}`, { cause: err });
}

/**
 * Prints events as they arrive, one `line` each. Resolves on SIGINT/SIGTERM (the normal way to
 * stop) or when stdout's reader goes away (`| head`); rejects with the client's error when the
 * stream breaks, so a watcher never sits silent on a daemon that is gone.
 */
export function follow<E>(what: string, start: StartWatch<E>, line: (e: E) => string): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let cancel: (() => void) | undefined;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.stdout.off('error', onStdoutError);
      cancel?.();
      if (err) reject(err);
      else resolve();
    };
    const onSignal = (): void => finish();
    const onStdoutError = (err: NodeJS.ErrnoException): void => finish(err.code === 'EPIPE' ? undefined : err);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.stdout.on('error', onStdoutError);
    cancel = start(
      (e) => {
        if (!settled) process.stdout.write(line(e));
      },
      (err) => finish(watchBroken(what, err)),
    );
    if (settled) cancel(); // the stream failed before start even returned
  });
}
