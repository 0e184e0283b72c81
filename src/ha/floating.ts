// SPDX-License-Identifier: Apache-2.0
// Floating addresses stay on both routers (the design: "Addresses stay on both routers; the lease
// decides who answers ARP/ND"). This puts them there, takes them away, and sets the sysctls that
// keep the backup's kernel from answering for them, announcing them or using them as a source.
//
//  - IPv4 /32: a /32 never matches a subnet, so the kernel's source selection (inet_select_addr)
//    keeps picking the interface's own primary address; arp_announce=2 does the same for the
//    kernel's ARP requests (below).
//  - IPv6 /128, IFA_F_NODAD (usable at once: DAD would see the peer's copy of the address and
//    mark ours duplicate) and preferred_lft 0 (deprecated: RFC 6724 rule 3 keeps it out of source
//    selection, also for the kernel's own Neighbor Solicitations). Valid forever (permanent).
// Answering ARP / NS for them is the XDP programs' decision (the `ha` lease), not the kernel's.

import type { Netlink } from '../host/netlink.js';
import { addAddress, deleteAddress, listAddresses } from '../host/addresses.js';
import { linkByName, type Dev } from '../host/links.js';
import { addressBytes } from '../host/rtnl-codec.js';
import { interfaceSysctl, readSysctl, writeSysctl } from '../host/sysctl.js';
import { NetlinkError } from '../errors.js';

const EADDRNOTAVAIL = 99;

export interface FloatingSpec {
  /** The public interface: it carries the VIPs. */
  public: string;
  /** The private interface: the NAT gateway(s) and local (full-NAT / tunnel source) addresses. */
  private: string;
  vips: readonly string[];
  privateAddrs: readonly string[];
}

export interface FloatingAddress {
  address: string;
  prefixlen: 32 | 128;
  dev: string;
}

/** Every floating address with the interface it belongs on (duplicates once). */
export function floatingAddresses(spec: FloatingSpec): FloatingAddress[] {
  const out = new Map<string, FloatingAddress>();
  const put = (dev: string, address: string): void => {
    const { family, bytes } = addressBytes(address, 'floating address');
    const key = `${dev}|${bytes.toString('hex')}`;
    if (!out.has(key)) out.set(key, { address, prefixlen: family === 4 ? 32 : 128, dev });
  };
  for (const a of spec.vips) put(spec.public, a);
  for (const a of spec.privateAddrs) put(spec.private, a);
  return [...out.values()];
}

const sameAddress = (a: string, b: string): boolean => addressBytes(a).bytes.toString('hex') === addressBytes(b).bytes.toString('hex');

/**
 * Puts every floating address on its interface (in the socket's namespace). An address already
 * there (with any prefix length and flags) is left as it is. Returns the ones it added.
 */
export function ensureFloating(nl: Netlink, spec: FloatingSpec): FloatingAddress[] {
  const added: FloatingAddress[] = [];
  const devs = new Map<string, Dev>();
  for (const f of floatingAddresses(spec)) {
    let dev = devs.get(f.dev);
    if (dev === undefined) {
      dev = linkByName(nl, f.dev);
      devs.set(f.dev, dev);
    }
    const family = f.prefixlen === 32 ? 4 : 6;
    if (listAddresses(nl, dev, family).some((row) => sameAddress(row.address, f.address))) continue;
    addAddress(nl, f.prefixlen === 32 ? { address: f.address, prefixlen: 32, dev } : { address: f.address, prefixlen: 128, dev, nodad: true, preferredLft: 0 });
    added.push(f);
  }
  return added;
}

/** Takes the floating addresses away (teardown). Absent ones are fine. Returns the ones removed. */
export function removeFloating(nl: Netlink, spec: FloatingSpec): FloatingAddress[] {
  const removed: FloatingAddress[] = [];
  for (const f of floatingAddresses(spec)) {
    try {
      deleteAddress(nl, { address: f.address, prefixlen: f.prefixlen, dev: f.dev });
      removed.push(f);
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === EADDRNOTAVAIL) continue;
      throw e;
    }
  }
  return removed;
}

export interface SysctlWrite {
  name: string;
  value: string;
}

/**
 * The sysctls of HA on the given interfaces, in the calling thread's namespace. Returns what it
 * wrote. Per interface:
 *  - net.ipv4.conf.DEV.arp_announce=2: the kernel's own ARP requests name the best local
 *    address of the target's subnet as sender, never a floating one (with 0 it takes the
 *    packet's source, which may be a VIP: the backup would then teach its neighbours the VIP's
 *    MAC is its own). The kernel uses max(all, DEV), so DEV=2 is enough.
 *  - net.ipv4.conf.DEV.arp_notify=0 and net.ipv6.conf.DEV.ndisc_notify=0: with 1 the kernel
 *    announces every address of the interface (GARP / unsolicited NA) on link up and when an
 *    IPv6 address finishes DAD, floating ones included, on the backup too. Both are "all OR DEV",
 *    so `all` is cleared as well when it is set.
 *  - net.ipv6.conf.DEV.keep_addr_on_down=1: otherwise a link going down deletes every IPv6
 *    address of the interface, the floating ones with them, and a flap would leave the router
 *    without them when it comes back.
 */
export function prepareHaSysctls(ifaces: readonly string[]): SysctlWrite[] {
  const writes: SysctlWrite[] = [];
  const set = (name: string, value: string): void => {
    writeSysctl(name, value);
    writes.push({ name, value });
  };
  for (const [family, key] of [[4, 'arp_notify'], [6, 'ndisc_notify']] as const) {
    const all = interfaceSysctl(family, 'all', key);
    if (readSysctl(all) !== '0') set(all, '0');
  }
  for (const dev of new Set(ifaces)) {
    set(interfaceSysctl(4, dev, 'arp_announce'), '2');
    set(interfaceSysctl(4, dev, 'arp_notify'), '0');
    set(interfaceSysctl(6, dev, 'ndisc_notify'), '0');
    set(interfaceSysctl(6, dev, 'keep_addr_on_down'), '1');
  }
  return writes;
}
