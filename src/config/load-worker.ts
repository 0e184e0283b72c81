// SPDX-License-Identifier: Apache-2.0
// The worker thread of load-off-thread.ts: loads one config file and posts the Config back, or
// the error as plain fields (an Error subclass does not survive structured cloning). The
// services go in parts, each once the daemon asks for it: a part is decoded on the daemon's
// event loop, and 10,000 services in one message would hold it for tens of milliseconds.

import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError, XlvsError } from '../errors.js';
import { loadConfig } from './load.js';
import { SERVICES_PER_PART, type Answer } from './load-off-thread.js';

const { path } = workerData as { path: string };
const port = parentPort!;
const post = (a: Answer): void => port.postMessage(a);

loadConfig(path).then(
  (config) => {
    const { services } = config.desired;
    post({ kind: 'config', config: { ...config, desired: { ...config.desired, services: [] } }, parts: Math.ceil(services.length / SERVICES_PER_PART) });
    let next = 0;
    port.on('message', () => {
      post({ kind: 'services', services: services.slice(next, next + SERVICES_PER_PART) });
      next += SERVICES_PER_PART;
      if (next >= services.length) port.close();
    });
  },
  (err: unknown) => {
    const error = err instanceof ConfigError
      ? { kind: 'config' as const, file: err.file, line: err.line, column: err.column, field: err.field, value: err.value, reason: err.reason }
      : err instanceof XlvsError
        ? { kind: 'xlvs' as const, code: err.code, message: err.message }
        : { kind: 'other' as const, message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
    post({ kind: 'error', error });
  },
);
