// SPDX-License-Identifier: Apache-2.0
// Policy routing rules (ip rule) of the fwmark → table kind. What the requests carry:
// rtnl-messages.ts.

import type { Netlink } from './netlink.js';
import * as msg from './rtnl-messages.js';
import type { IpFamily } from './rtnl-codec.js';

export type { FwmarkRule, RuleRow } from './rtnl-messages.js';

/** `ip rule add pref P fwmark M lookup T`: NetlinkError EEXIST if that very rule exists. */
export function addRule(nl: Netlink, r: msg.FwmarkRule): void {
  nl.change(msg.addRule(r));
}

/** `ip rule del pref P fwmark M lookup T`: NetlinkError ENOENT if there is no such rule. */
export function deleteRule(nl: Netlink, r: msg.FwmarkRule): void {
  nl.change(msg.deleteRule(r));
}

/** The family's rules, in the kernel's order (by priority); only those at `priority` if given. */
export function listRules(nl: Netlink, family: IpFamily, priority?: number): msg.RuleRow[] {
  const rules = nl.dump(msg.dumpRules(family)).map(msg.decodeRule);
  return priority === undefined ? rules : rules.filter((r) => r.priority === priority);
}
