// SPDX-License-Identifier: Apache-2.0
// What the health checks of the benchmark reach: one lab real-server namespace holding A extra
// addresses on its interface and one nginx listening on P ports on all of them (tcp checks are
// accepted and closed, http checks get a 200). nginx, not a Node server, so the target's accept
// and reply cost stays small beside the daemon being measured on the same two CPUs; its own CPU
// is read too and reported as the target's.

import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from '../../lab/lab.js';
import { stopChild } from '../../lab/child.js';
import { spawnListening } from '../peers/listen.js';
import { nginxServerConfig } from '../peers/nginx.js';
import { PORT_BASE, targetAddress } from './health-checks-config.js';
import { BenchError } from '../common/errors.js';

export function targetNginxConfig(dir: string, ports: number): string {
  // The same nginx as the connections benchmark's reals, on every port of every address (no
  // reuseport: 100 ports × 2 workers would be 200 accept queues for a few thousand checks a second).
  return nginxServerConfig(dir, Array.from({ length: ports }, (_, i) => `${PORT_BASE + i} backlog=4096`), { workers: 2, connections: 8192 });
}

export class HealthTarget {
  private constructor(
    private readonly child: ChildProcess,
    readonly ns: string,
  ) {}

  /** Adds the addresses to the namespace's eth0 and starts nginx on the ports; resolves once it listens. */
  static async start(lab: Lab, ns: string, addresses: number, ports: number, dir: string): Promise<HealthTarget> {
    for (let i = 0; i < addresses; i++) await lab.exec(ns, ['ip', 'addr', 'add', `${targetAddress(i)}/32`, 'dev', 'eth0']);
    mkdirSync(dir, { recursive: true });
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, targetNginxConfig(dir, ports));
    // The last port listed listens last: once it does, every port does.
    const child = await spawnListening(lab, ns, ['nginx', '-c', conf, '-p', dir, '-e', join(dir, 'error.log')], `nginx (${conf})`, '0.0.0.0', PORT_BASE + ports - 1);
    return new HealthTarget(child, ns);
  }

  /** nginx's master and workers (the workers are the master's children). */
  pids(): number[] {
    const master = this.child.pid;
    if (master === undefined) throw new BenchError('the target nginx has no pid');
    const children = readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim();
    return [master, ...(children === '' ? [] : children.split(/\s+/).map(Number))];
  }

  stop(): Promise<void> {
    return stopChild(this.child);
  }
}
