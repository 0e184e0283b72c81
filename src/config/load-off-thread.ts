// SPDX-License-Identifier: Apache-2.0
// Loads a config file on a worker thread, so that parsing and validating it never holds the
// daemon's event loop: 5,000 services took 0.8-1.3 s here, during which the API could not
// answer. The Config comes back by structured clone (plain data), its services in parts the
// daemon asks for one at a time, with a turn of its event loop between them; an error is
// rebuilt as the same class with the same fields (ConfigError names file:line:column, field
// and value).

import { Worker } from 'node:worker_threads';
import { ConfigError, XlvsError } from '../errors.js';
import type { ServiceSpec } from '../model/types.js';
import type { Config } from './schema.js';

/** Services per message from the worker. */
export const SERVICES_PER_PART = 500;

type WorkerError =
  | { kind: 'config'; file: string; line: number; column: number; field: string; value: unknown; reason: string }
  | { kind: 'xlvs'; code: string; message: string }
  | { kind: 'other'; message: string };

/** The worker's messages: the config without its services and how many parts follow; a part; or the error. */
export type Answer =
  | { kind: 'config'; config: Config; parts: number }
  | { kind: 'services'; services: ServiceSpec[] }
  | { kind: 'error'; error: WorkerError };

function rebuild(e: WorkerError): Error {
  if (e.kind === 'config') return new ConfigError(e.file, e.line, e.column, e.field, e.value, e.reason);
  if (e.kind === 'xlvs') return new XlvsError(e.code, e.message);
  return new Error(`loading the config failed: ${e.message}`);
}

/**
 * Structured cloning hands a Buffer over as a plain Uint8Array (no toString('hex'), no equals());
 * the HA key is made a Buffer again, over the same memory.
 */
function withBuffers(c: Config): Config {
  if (c.ha === undefined) return c;
  const k = c.ha.key as Uint8Array;
  return { ...c, ha: { ...c.ha, key: Buffer.isBuffer(k) ? k : Buffer.from(k.buffer, k.byteOffset, k.byteLength) } };
}

/** loadConfig(path) on a worker thread: the same Config, or the same error. */
export function loadConfigOffThread(path: string): Promise<Config> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./load-worker.js', import.meta.url), { workerData: { path } });
    let config: Config | undefined;
    let parts = 0;
    let done = false;
    const finish = (err: Error | undefined): void => {
      if (done) return;
      done = true;
      if (err) reject(err);
      else resolve(config!);
      void worker.terminate();
    };
    const ask = (): void => {
      if (parts === 0) return finish(undefined);
      setImmediate(() => worker.postMessage('next'));
    };
    worker.on('message', (a: Answer) => {
      if (a.kind === 'error') return finish(rebuild(a.error));
      if (a.kind === 'config') {
        config = withBuffers(a.config);
        parts = a.parts;
      } else {
        config!.desired.services.push(...a.services);
        parts--;
      }
      ask();
    });
    worker.once('error', (err) => finish(err));
    worker.once('exit', (code) => finish(new XlvsError('E_CONFIG_WORKER', `the config loader thread exited with code ${code} before answering`)));
  });
}
