// SPDX-License-Identifier: Apache-2.0
// Threaded NAPI on the veths between xlvsd and the check targets. A veth delivers a frame by
// running the receiver's stack in softirq on the sender's CPU, usually inside the sender's
// syscall: without this, every SYN-ACK nginx sends and every SYN it accepts would be kernel time
// of xlvsd's connect() and close(), as it never is on a router whose reals are other machines
// (there, the NIC's softirq does that work). With threaded NAPI each veth's receive side runs in
// its own kernel thread (napi/<dev>-<id>), reported apart; the machine-wide CPU is reported too.

import type { Lab } from '../../lab/lab.js';
import { execFileSync } from 'node:child_process';
import { LAN_ROUTER_PORT, PRIVATE_IFACE, realPort } from '../../lab/topology.js';

/** [namespace, device] of each receive side on the router ⇄ real 0 path. */
export function checkPathDevices(lab: Lab): Array<[string, string]> {
  return [
    [lab.ns.router, PRIVATE_IFACE],
    [lab.ns.lan, LAN_ROUTER_PORT],
    [lab.ns.lan, realPort(0)],
    [lab.ns.reals[0]!, 'eth0'],
  ];
}

/** GRO on (a veth without XDP uses NAPI only then) and NAPI threaded, per device. */
export async function threadNapi(lab: Lab): Promise<void> {
  for (const [ns, dev] of checkPathDevices(lab)) {
    await lab.exec(ns, ['ethtool', '-K', dev, 'gro', 'on']);
    // `ip netns exec` mounts the namespace's own /sys, where its devices are (lab.exec does not).
    execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', `echo 1 > /sys/class/net/${dev}/threaded`], { timeout: 5000 });
  }
}
