// SPDX-License-Identifier: Apache-2.0
// The health-checks benchmark's workload (issue 5): S services × R reals, every real checked (or
// none, the baseline), as
// an xlvsd YAML config in the daemon's real format. Check k (0-based over all reals) goes to
// target address k mod A and port PORT_BASE + floor(k / A), so A addresses × P ports on one
// target namespace give A × P distinct (address, port) destinations: no two checks share one,
// as no two reals of a real site do. Consecutive checks land on different addresses, so the
// reals of one service are distinct.

import { InvalidArgumentError } from '../../src/errors.js';
import { XLVS_MAX_SVCS } from '../../src/gen/abi.js';
import { MAX_REALS_PER_SERVICE } from '../../src/model/types.js';
import { PORTS, vipOf } from '../control-plane/control-plane-config.js';

/**
 * none: the same services and reals without a check, the daemon's baseline. tcp: plain tcp
 * checks as the daemon runs them by default (SYNs from the data plane); tcp-connect: the same
 * checks with `health.syn_checks: false` (a connect() and reset per check), the in-run peer.
 */
export type CheckKind = 'none' | 'tcp' | 'tcp-connect' | 'http' | 'exec';
export const CHECK_KINDS: readonly CheckKind[] = ['none', 'tcp', 'tcp-connect', 'http', 'exec'];

/** Target addresses 10.77.0.100 .. 10.77.0.(100 + A − 1), on the lab's private /24, above its reals. */
export const TARGET_BASE = 100;
export const MAX_TARGET_ADDRESSES = 100;
/** Target ports PORT_BASE .. PORT_BASE + P − 1 (clear of the lab servers' 80, 8081, 9000, 5353). */
export const PORT_BASE = 20_000;
/** The exec variant's program: does nothing, so what is measured is the spawn. */
export const EXEC_COMMAND = '/bin/true';

export interface HealthWorkload {
  kind: CheckKind;
  services: number;
  realsPerService: number;
  /** Target addresses (A) and ports (P); A × P ≥ services × realsPerService. */
  addresses: number;
  ports: number;
  intervalMs: number;
  timeoutMs: number;
  jitter: number;
  /** health.max_exec (exec checks running at once); the daemon's default when absent. */
  maxExec?: number;
}

export const realCount = (w: HealthWorkload): number => w.services * w.realsPerService;
export const checkCount = (w: HealthWorkload): number => (w.kind === 'none' ? 0 : realCount(w));

function validate(w: HealthWorkload): void {
  if (!CHECK_KINDS.includes(w.kind)) throw new InvalidArgumentError('kind', w.kind, `must be one of ${CHECK_KINDS.join(', ')}`);
  if (!Number.isInteger(w.services) || w.services < 1 || w.services > XLVS_MAX_SVCS) throw new InvalidArgumentError('services', w.services, `must be an integer 1..${XLVS_MAX_SVCS}`);
  if (!Number.isInteger(w.addresses) || w.addresses < 1 || w.addresses > MAX_TARGET_ADDRESSES) throw new InvalidArgumentError('addresses', w.addresses, `must be an integer 1..${MAX_TARGET_ADDRESSES}`);
  const maxReals = Math.min(MAX_REALS_PER_SERVICE, w.addresses);
  if (!Number.isInteger(w.realsPerService) || w.realsPerService < 1 || w.realsPerService > maxReals) {
    throw new InvalidArgumentError('realsPerService', w.realsPerService, `must be an integer 1..${maxReals} (distinct target addresses per service)`);
  }
  if (!Number.isInteger(w.ports) || w.ports < 1 || PORT_BASE + w.ports > 65_536) throw new InvalidArgumentError('ports', w.ports, `must be an integer 1..${65_536 - PORT_BASE}`);
  if (w.addresses * w.ports < realCount(w)) throw new InvalidArgumentError('ports', w.ports, `× ${w.addresses} addresses gives fewer destinations than ${realCount(w)} reals`);
  if (!Number.isInteger(w.intervalMs) || w.intervalMs < 1) throw new InvalidArgumentError('intervalMs', w.intervalMs, 'must be a positive integer');
  if (!Number.isInteger(w.timeoutMs) || w.timeoutMs < 1 || w.timeoutMs > w.intervalMs) throw new InvalidArgumentError('timeoutMs', w.timeoutMs, `must be an integer 1..intervalMs (${w.intervalMs})`);
  if (typeof w.jitter !== 'number' || !(w.jitter >= 0 && w.jitter <= 1)) throw new InvalidArgumentError('jitter', w.jitter, 'must be a number 0..1');
  if (w.maxExec !== undefined && (!Number.isInteger(w.maxExec) || w.maxExec < 1 || w.maxExec > 1024)) throw new InvalidArgumentError('maxExec', w.maxExec, 'must be an integer 1..1024');
}

export const targetAddress = (i: number): string => `10.77.0.${TARGET_BASE + i}`;

/** Where check k goes (its real's address and port). */
export function targetOf(k: number, w: Pick<HealthWorkload, 'addresses'>): { address: string; port: number } {
  return { address: targetAddress(k % w.addresses), port: PORT_BASE + Math.floor(k / w.addresses) };
}

/** The check every service carries, in flow style (none: no check). */
export function checkYaml(w: HealthWorkload): string | undefined {
  const common = `interval_ms: ${w.intervalMs}, timeout_ms: ${w.timeoutMs}, jitter: ${w.jitter}`;
  switch (w.kind) {
    case 'none':
      return undefined;
    case 'tcp':
    case 'tcp-connect':
      return `{ type: tcp, ${common} }`;
    case 'http':
      return `{ type: http, ${common}, path: /health }`;
    case 'exec':
      return `{ type: exec, ${common}, command: [${EXEC_COMMAND}] }`;
  }
}

export function healthConfigYaml(w: HealthWorkload, ifaces: { public: string; private: string }): string {
  validate(w);
  const lines = [
    '# SPDX-License-Identifier: Apache-2.0',
    `# Generated by bench/health-checks/health-checks-config.ts: ${w.services} services x ${w.realsPerService} reals, ${w.kind} checks.`,
    'interfaces:',
    `  public: ${ifaces.public}`,
    `  private: ${ifaces.private}`,
    '  xdp_mode: native',
  ];
  const health = [
    ...(w.maxExec !== undefined ? [`  max_exec: ${w.maxExec}`] : []),
    ...(w.kind === 'tcp-connect' ? ['  syn_checks: false'] : []),
  ];
  if (health.length > 0) lines.push('health:', ...health);
  lines.push('services:');
  const check = checkYaml(w);
  for (let i = 0; i < w.services; i++) {
    lines.push(`  - vip: ${vipOf(i)}`, `    port: ${PORTS[i % PORTS.length]!}`);
    if (check !== undefined) lines.push(`    check: ${check}`);
    lines.push('    reals:');
    for (let j = 0; j < w.realsPerService; j++) {
      const t = targetOf(i * w.realsPerService + j, w);
      lines.push(`      - { address: ${t.address}, port: ${t.port} }`);
    }
  }
  return lines.join('\n') + '\n';
}
