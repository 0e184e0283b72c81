// SPDX-License-Identifier: Apache-2.0
// The MAC addresses the benchmarks write into frames and permanent neighbour entries: the
// router's two ports, the client's and the first real's interface.

import { execFileSync } from 'node:child_process';
import type { Lab } from '../../lab/lab.js';

export interface Macs {
  pub0: string;
  priv0: string;
  client: string;
  rs1: string;
}

/** The MAC of `dev` in namespace `ns` (ip -j link). */
export function linkMac(ns: string, dev: string): string {
  return (JSON.parse(execFileSync('ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev], { encoding: 'utf8' })) as Array<{ address: string }>)[0]!.address;
}

export function labMacs(lab: Lab): Macs {
  return {
    pub0: linkMac(lab.ns.router, 'pub0'),
    priv0: linkMac(lab.ns.router, 'priv0'),
    client: linkMac(lab.ns.client, 'eth0'),
    rs1: linkMac(lab.ns.reals[0]!, 'eth0'),
  };
}
