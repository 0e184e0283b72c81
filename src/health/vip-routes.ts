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
// on the private interface let that reply in. Changes happen when the config does (ip and sysctl
// shell-outs), never per probe. Rules at our preference are ours: the first sync removes any left
// by an earlier run, so a restart converges.

import { execFileSync } from 'node:child_process';
import type { Logger } from 'pino';
import { XlvsError } from '../errors.js';

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

/** Runs a command; returns its stdout; throws XlvsError E_HEALTH_ROUTE naming it on failure. */
export type Runner = (cmd: string, args: string[]) => string;

const runCommand: Runner = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000, encoding: 'utf8' });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    throw new XlvsError('E_HEALTH_ROUTE', `${cmd} ${args.join(' ')} failed: ${stderr || (e as Error).message}`, { cause: e });
  }
};

export class VipRoutes {
  private readonly marks = new Map<string, number>();
  private cleaned = false;
  private sysctlsSet = false;

  constructor(
    readonly device: string,
    private readonly log: Pick<Logger, 'info' | 'warn'>,
    private readonly run: Runner = runCommand,
  ) {}

  /** The mark of a pair that sync() installed. */
  markOf(p: VipPair): number | undefined {
    return this.marks.get(keyOf(p));
  }

  /** Installs exactly these pairs' rules and routes. */
  sync(pairs: readonly VipPair[]): void {
    if (!this.cleaned) {
      this.removeAllRules();
      this.cleaned = true;
    }
    const want = new Map(pairs.map((p) => [keyOf(p), p]));
    for (const [k, mark] of this.marks) {
      if (want.has(k)) continue;
      this.run('ip', ['rule', 'del', 'pref', String(VIP_RULE_PREF), 'fwmark', hex(mark), 'lookup', String(mark)]);
      this.run('ip', ['route', 'flush', 'table', String(mark)]);
      this.marks.delete(k);
    }
    if (want.size > MAX_PAIRS) throw new XlvsError('E_CAPACITY', `at most ${MAX_PAIRS} (VIP, real) pairs can be checked at the VIP (got ${want.size})`);
    const used = new Set(this.marks.values());
    let next = 1;
    for (const [k, p] of want) {
      if (this.marks.has(k)) continue;
      while (used.has(VIP_MARK_BASE | next)) next++;
      const mark = VIP_MARK_BASE | next;
      used.add(mark);
      this.run('ip', ['route', 'replace', `${p.vip}/32`, 'via', p.real, 'dev', this.device, 'onlink', 'table', String(mark)]);
      this.run('ip', ['rule', 'add', 'pref', String(VIP_RULE_PREF), 'fwmark', hex(mark), 'lookup', String(mark)]);
      this.marks.set(k, mark);
    }
    if (want.size > 0 && !this.sysctlsSet) {
      // The real's answer comes from the VIP, a local address: let it in on the private side.
      for (const [name, value] of [[`net.ipv4.conf.${this.device}.accept_local`, '1'], [`net.ipv4.conf.${this.device}.rp_filter`, '0'], ['net.ipv4.conf.all.rp_filter', '0']] as const) {
        this.run('sysctl', ['-q', '-w', `${name}=${value}`]);
      }
      this.log.info({ device: this.device }, 'VIP checks: accept_local=1 and rp_filter=0 on the private interface (and all.rp_filter=0)');
      this.sysctlsSet = true;
    }
  }

  /** Removes every rule at our preference (ours, from this or an earlier run). */
  private removeAllRules(): void {
    const left = removeVipRoutes(this.run);
    if (left > 0) this.log.info({ pref: VIP_RULE_PREF, rules: left }, 'VIP check rules of an earlier run removed');
  }
}

/**
 * Removes every rule at our preference and flushes the table each looked up (xlvsd --teardown,
 * and the first sync of a daemon). Returns how many rules there were.
 */
export function removeVipRoutes(run: Runner = runCommand): number {
  const rules = run('ip', ['rule', 'show', 'pref', String(VIP_RULE_PREF)]).split('\n').filter((l) => l.trim() !== '');
  for (const line of rules) {
    run('ip', ['rule', 'del', 'pref', String(VIP_RULE_PREF)]);
    const table = /lookup (\S+)/.exec(line)?.[1];
    if (table !== undefined) run('ip', ['route', 'flush', 'table', table]);
  }
  return rules.length;
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;
