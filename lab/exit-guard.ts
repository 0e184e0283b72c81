// SPDX-License-Identifier: Apache-2.0
// Last-chance cleanup: a test that crashes or is interrupted must not leave namespaces behind.
// On 'exit' only synchronous work runs, so every guarded object offers a synchronous teardown.

export interface SyncTeardown {
  teardownSync(reason: string): void;
}

const live = new Set<SyncTeardown>();
let installed = false;

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function teardownAll(reason: string): void {
  for (const item of [...live]) {
    live.delete(item);
    item.teardownSync(reason);
  }
}

function install(): void {
  installed = true;
  process.on('exit', () => teardownAll('process exit'));
  for (const sig of SIGNALS) {
    const onSignal = (): void => {
      teardownAll(sig);
      // Listening to a signal cancels Node's default of dying from it. If nobody else listens,
      // restore that default and re-raise, so the exit status still says what happened.
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

export function guard(item: SyncTeardown): void {
  if (!installed) install();
  live.add(item);
}

export function unguard(item: SyncTeardown): void {
  live.delete(item);
}
