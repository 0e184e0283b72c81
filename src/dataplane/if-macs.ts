// SPDX-License-Identifier: Apache-2.0
// if_macs (bpf/l2.h): the interface each program is attached to and its MAC. A unicast frame
// there for another MAC (a flooding switch or bridge, promiscuous mode) is handed to the kernel,
// which drops it, instead of being forwarded: in an HA pair both routers would forward it. A slot
// without an interface (ifindex 0: none written, or no Ethernet address) is not checked.

import type pino from 'pino';
import { Netlink } from '../host/netlink.js';
import { linkWithMac } from '../host/links.js';
import type { BpfMap } from '../kernel/map.js';
import { XLVS_IF_PRIVATE, XLVS_IF_PUBLIC, type XlvsIfMac } from '../gen/abi.js';

const ETH_ALEN = 6;

export interface IfMac {
  ifindex: number;
  /** lower case, colons; undefined when the device has none */
  mac: string | undefined;
}

/** The ifindex and MAC of the two interfaces, asked over netlink (this thread's namespace). */
export function readIfMacs(names: { public: string; private: string }): { public: IfMac; private: IfMac } {
  const nl = Netlink.open();
  try {
    const one = (n: string): IfMac => {
      const d = linkWithMac(nl, n);
      return { ifindex: d.index, mac: d.mac };
    };
    return { public: one(names.public), private: one(names.private) };
  } finally {
    nl.close();
  }
}

/** The 6 bytes of "aa:bb:cc:dd:ee:ff"; undefined for any other link-layer address. */
export function macBytes(mac: string | undefined): Buffer | undefined {
  if (mac === undefined || !/^[0-9a-f]{2}(:[0-9a-f]{2})*$/i.test(mac)) return undefined;
  const b = Buffer.from(mac.split(':').map((x) => parseInt(x, 16)));
  return b.length === ETH_ALEN ? b : undefined;
}

/** Writes if_macs: each program's interface (public: xlvs_public's, private: xlvs_private's) and
 * its MAC. One without an Ethernet address is written as none (ifindex 0): not checked. */
export function writeIfMacs(map: BpfMap<number, XlvsIfMac>, ifaces: { public: IfMac; private: IfMac }, log: pino.Logger): void {
  for (const [role, slot] of [['public', XLVS_IF_PUBLIC], ['private', XLVS_IF_PRIVATE]] as const) {
    const { ifindex, mac } = ifaces[role];
    const b = macBytes(mac);
    if (b === undefined) log.warn({ role, ifindex, mac }, 'interface without an Ethernet address: frames for other hosts not filtered on it');
    map.update(slot, b === undefined ? { ifindex: 0, mac: Buffer.alloc(ETH_ALEN) } : { ifindex, mac: b });
  }
}

/** Empties if_macs: nothing is checked. */
export function clearIfMacs(map: BpfMap<number, XlvsIfMac>): void {
  for (const slot of [XLVS_IF_PUBLIC, XLVS_IF_PRIVATE]) map.update(slot, { ifindex: 0, mac: Buffer.alloc(ETH_ALEN) });
}
