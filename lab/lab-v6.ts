// SPDX-License-Identifier: Apache-2.0
// IPv6 on top of a Lab (which is IPv4-only): the same wiring with documentation and ULA
// prefixes. Addresses are added with nodad so they are usable at once (DAD would hold them
// tentative for a second or more).
//
//   cli:eth0 2001:db8:1::2 ── rtr:pub0 2001:db8:1::1 (+ VIP 2001:db8:1::100/128)
//   rtr:priv0 fd00:77::1 ── lan ── rsN:eth0 fd00:77::(10+N), default via fd00:77::1

import type { Lab } from './lab.js';
import { LabError } from './errors.js';

export interface LabV6Addresses {
  client: string;
  routerPublic: string;
  vip: string;
  routerPrivate: string;
  reals: string[];
}

export function labV6Addresses(reals: number): LabV6Addresses {
  return {
    client: '2001:db8:1::2',
    routerPublic: '2001:db8:1::1',
    vip: '2001:db8:1::100',
    routerPrivate: 'fd00:77::1',
    reals: Array.from({ length: reals }, (_, i) => `fd00:77::${11 + i}`),
  };
}

/** Adds the IPv6 addresses, routes and forwarding to a lab; returns the addresses. */
export async function addLabV6(lab: Lab): Promise<LabV6Addresses> {
  const a = labV6Addresses(lab.ns.reals.length);
  const { client, router } = lab.ns;
  const steps: Array<[string, string[]]> = [
    [client, ['ip', '-6', 'addr', 'add', `${a.client}/64`, 'dev', 'eth0', 'nodad']],
    [router, ['ip', '-6', 'addr', 'add', `${a.routerPublic}/64`, 'dev', lab.ifaces.public, 'nodad']],
    [router, ['ip', '-6', 'addr', 'add', `${a.vip}/128`, 'dev', lab.ifaces.public, 'nodad']],
    [router, ['ip', '-6', 'addr', 'add', `${a.routerPrivate}/64`, 'dev', lab.ifaces.private, 'nodad']],
    [router, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1']],
    [client, ['ip', '-6', 'route', 'add', 'default', 'via', a.routerPublic]],
    ...lab.ns.reals.flatMap((ns, i): Array<[string, string[]]> => [
      [ns, ['ip', '-6', 'addr', 'add', `${a.reals[i]}/64`, 'dev', 'eth0', 'nodad']],
      [ns, ['ip', '-6', 'route', 'add', 'default', 'via', a.routerPrivate]],
    ]),
  ];
  for (const [ns, argv] of steps) {
    try {
      await lab.exec(ns, argv);
    } catch (err) {
      throw new LabError(`IPv6 lab step in ${ns} failed: ${argv.join(' ')}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  return a;
}
