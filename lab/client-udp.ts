// SPDX-License-Identifier: Apache-2.0
// One UDP request/response from a new socket (so a new source port, so a new flow).

import { createSocket } from 'node:dgram';

export function udpOnce(host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    let settled = false;
    const finish = (err: Error | undefined, name?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      sock.close();
      if (err !== undefined) reject(err);
      else resolve(name ?? '');
    };
    const onAbort = (): void => finish(new Error('aborted by the total timeout'));
    const timer = setTimeout(() => finish(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
    signal.addEventListener('abort', onAbort);
    sock.on('error', (err) => finish(err));
    sock.on('message', (msg) => finish(undefined, msg.toString('utf8').trim()));
    sock.send('ping', port, host, (err) => {
      if (err) finish(err);
    });
  });
}
