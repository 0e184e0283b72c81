// SPDX-License-Identifier: Apache-2.0
// One HTTP GET on a fresh TCP connection; resolves with the response body (the real's name).

import { request } from 'node:http';

export function httpOnce(host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    // agent:false gives every request its own connection, so each one is a new flow for the
    // load balancer to schedule.
    const req = request({ host, port, path: '/', agent: false, headers: { Connection: 'close' }, signal, timeout: timeoutMs });
    req.on('timeout', () => req.destroy(new Error(`request timeout ${timeoutMs} ms`)));
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}`));
        else resolve(body.trim());
      });
    });
    req.end();
  });
}
