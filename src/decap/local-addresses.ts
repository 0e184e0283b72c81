// SPDX-License-Identifier: Apache-2.0
// The host's own addresses, read once at attach: the outer destinations xlvs_decap takes as
// its own (decap_local). The program cannot ask the kernel itself: bpf_fib_lookup() answers
// FWD_DISABLED on an interface that does not forward, as a real server's does not. So this is a
// snapshot: an address added later is not decapsulated to until `xlvs-decap attach` runs again
// (its packets pass to the kernel untouched and are counted as not_local).
//
// Taken: every address of every interface of this network namespace (the kernel accepts a
// packet to any of them on any interface), except those of host scope (127.0.0.0/8, ::1) and
// link scope (fe80::/10): an LVS router tunnels to a real's routable address.

import { Netlink } from '../host/netlink.js';
import { listAllAddresses } from '../host/addresses.js';
import { RT_SCOPE_LINK } from '../host/rtnl-codec.js';
import { parseDecapAddress, type DecapAddress } from './address.js';

/** The host's addresses, each once, sorted by text (as status lists them). */
export function localAddresses(): DecapAddress[] {
  const nl = Netlink.open();
  try {
    const texts = listAllAddresses(nl).filter((a) => a.scope < RT_SCOPE_LINK).map((a) => a.address);
    return [...new Set(texts)].sort().map((t) => parseDecapAddress('local address', t));
  } finally {
    nl.close();
  }
}
