// SPDX-License-Identifier: Apache-2.0
// Policy routing for checks of the VIP on dr reals (`check: { address: vip }`). The router owns the
// VIP, so a probe to it would stay local; instead the probe's socket is bound to the private
// interface (a local route does not match another output interface) and marked, and one rule
// and one table per (VIP, real) send marked packets to that real:
//
//   ip rule add pref 30806 fwmark M lookup M
//   ip route replace VIP/32 via REAL dev PRIVATE onlink table M
//
// The real answers from the VIP, a local address of the router: accept_local=1 (and rp_filter 0)
// on the private interface let that reply in. Changes happen when the config does (netlink and
// /proc/sys, src/host/; no `ip` or `sysctl` processes), never per probe. Rules at our preference
// are ours: the first sync removes any left by an earlier run, so a restart converges.

import type { Logger } from 'pino';
import { CapacityError } from '../errors.js';
import { Netlink } from '../host/netlink.js';
import { addRule, deleteRule, listRules } from '../host/rules.js';
import { flushTable, replaceRoute } from '../host/routes.js';
import { interfaceSysctl, writeSysctl } from '../host/sysctl.js';

/** Rule preference of our rules: after `local` (0), before `main` (32766). */
export const VIP_RULE_PREF = 30806;
/** Marks and table numbers: this base | index (1..65535). */
export const VIP_MARK_BASE = 0x78560000;
const MAX_PAIRS = 65535;

export interface VipPair {
  vip: string;
  real: string;
}

const keyOf = (p: VipPair): string => `${p.vip} ${p.real}`;

export class VipRoutes {
  private readonly marks = new Map<string, number>();
  private cleaned = false;
  private sysctlsSet = false;
  /** Ours when not given: opened at the first sync, in the calling thread's namespace. */
  private nl: Netlink | undefined;
  private readonly ownsNetlink: boolean;

  /**
   * `netlink`: a socket in the namespace to work on (default: one opened here). The sysctls are
   * written in the calling thread's namespace either way (/proc/sys/net is per namespace).
   */
  constructor(
    readonly device: string,
    private readonly log: Pick<Logger, 'info' | 'warn'>,
    netlink?: Netlink,
  ) {
    this.nl = netlink;
    this.ownsNetlink = netlink === undefined;
  }

  /** The mark of a pair that sync() installed. */
  markOf(p: VipPair): number | undefined {
    return this.marks.get(keyOf(p));
  }

  /** Installs exactly these pairs' rules and routes. */
  sync(pairs: readonly VipPair[]): void {
    this.nl ??= Netlink.open();
    const nl = this.nl;
    if (!this.cleaned) {
      this.removeAllRules(nl);
      this.cleaned = true;
    }
    const want = new Map(pairs.map((p) => [keyOf(p), p]));
    for (const [k, mark] of this.marks) {
      if (want.has(k)) continue;
      deleteRule(nl, ruleOf(mark));
      flushTable(nl, 4, mark);
      this.marks.delete(k);
    }
    // A CapacityError: an AddReal or reload that needs more is refused as RESOURCE_EXHAUSTED.
    if (want.size > MAX_PAIRS) throw new CapacityError('(VIP, real) pairs checked at the VIP', MAX_PAIRS, want.size);
    const used = new Set(this.marks.values());
    let next = 1;
    for (const [k, p] of want) {
      if (this.marks.has(k)) continue;
      while (used.has(VIP_MARK_BASE | next)) next++;
      const mark = VIP_MARK_BASE | next;
      used.add(mark);
      replaceRoute(nl, { dst: `${p.vip}/32`, gateway: p.real, dev: this.device, onlink: true, table: mark });
      addRule(nl, ruleOf(mark));
      this.marks.set(k, mark);
    }
    if (want.size > 0 && !this.sysctlsSet) {
      // The real's answer comes from the VIP, a local address: let it in on the private side.
      for (const [name, value] of [[interfaceSysctl(4, this.device, 'accept_local'), '1'], [interfaceSysctl(4, this.device, 'rp_filter'), '0'], ['net.ipv4.conf.all.rp_filter', '0']] as const) {
        writeSysctl(name, value);
      }
      this.log.info({ device: this.device }, 'VIP checks: accept_local=1 and rp_filter=0 on the private interface (and all.rp_filter=0)');
      this.sysctlsSet = true;
    }
  }

  /** Closes our netlink socket (a given one stays open); a later sync opens another. */
  close(): void {
    if (!this.ownsNetlink) return;
    this.nl?.close();
    this.nl = undefined;
  }

  /** Removes every rule at our preference (ours, from this or an earlier run). */
  private removeAllRules(nl: Netlink): void {
    const left = removeVipRoutes(nl);
    if (left > 0) this.log.info({ pref: VIP_RULE_PREF, rules: left }, 'VIP check rules of an earlier run removed');
  }
}

/**
 * Removes every rule at our preference and flushes the table each looked up (xlvsd --teardown,
 * and the first sync of a daemon). Returns how many rules there were. Without a socket, one is
 * opened (and closed) in the calling thread's namespace.
 */
export function removeVipRoutes(netlink?: Netlink): number {
  const nl = netlink ?? Netlink.open();
  try {
    const rules = listRules(nl, 4, VIP_RULE_PREF);
    for (const r of rules) {
      // Deleted by all it matches on, so exactly this rule goes whatever else shares the preference.
      deleteRule(nl, { family: 4, priority: VIP_RULE_PREF, fwmark: r.fwmark ?? 0, table: r.table });
      flushTable(nl, 4, r.table);
    }
    return rules.length;
  } finally {
    if (netlink === undefined) nl.close();
  }
}

const ruleOf = (mark: number) => ({ family: 4 as const, priority: VIP_RULE_PREF, fwmark: mark, table: mark });
