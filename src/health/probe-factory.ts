// SPDX-License-Identifier: Apache-2.0
// A configured check (spec.ts) bound to one real: the probe function the scheduler calls. Options
// are planned once here (the config loader has validated them already), so a probe run does no
// parsing. A plain tcp check is a SYN the data plane sends (probes/syn.ts) when the daemon has
// that on; tcp, udp and http(s) otherwise run in this process on sockets; only exec spawns, and
// only through the daemon-wide ExecLimiter.

import type { Probe } from './scheduler.js';
import type { CheckSpec } from './spec.js';
import { probeTcp } from './probes/tcp.js';
import { probeTcpConnect, type ViaReal } from './probes/tcp-connect.js';
import type { VipRoutes } from './vip-routes.js';
import { probeUdp, type UdpMemory, type UnreachableLog } from './probes/udp.js';
import { httpOptions, planHttp, probeHttp } from './probes/http.js';
import { planExec, probeExec } from './probes/exec.js';
import type { ExecLimiter } from './probes/exec-limit.js';
import { SynProber } from './probes/syn.js';
import type { ProbeMethod } from './report.js';

/** Who the check is for: exec checks get it as arguments and environment. */
export interface ProbeContext {
  address: string; // where the probe goes
  port: number;
  vip: string;
  vipPort: number;
  service: string; // "tcp/203.0.113.100:80"
  /** A check of the VIP on a dr real without SYN checks: the socket's interface and mark (health/vip-routes.ts). */
  via?: ViaReal;
  /** A check of the VIP (address: vip): the real it is checked on. */
  vipReal?: { address: string; method: 'dr' | 'tun' };
}

/** A check bound to its real: the function the scheduler calls, and how it probes. */
export interface MadeProbe {
  run: Probe;
  method: ProbeMethod;
  /** Why it does not probe as configured (e.g. SYN checks that this host cannot run); absent when it does. */
  degraded?: string;
}

export interface ProbeDeps {
  /** The daemon-wide cap on exec checks running at once (health.max_exec). */
  readonly execLimiter: ExecLimiter;
  /** Policy routing for checks of the VIP on dr reals. */
  readonly vipRoutes?: VipRoutes;
  /** Plain tcp checks as SYNs from the data plane (health.syn_checks); absent: connect(). */
  readonly synProber?: SynProber;
  /** When each real last answered a udp check with port unreachable (probes/udp.ts). */
  readonly unreachable: UnreachableLog;
  /** health.syn_checks is on but this host cannot run them: why (the checks say so). */
  readonly synUnavailable?: string;
}

export function makeProbe(check: CheckSpec, ctx: ProbeContext, deps: ProbeDeps): MadeProbe {
  const target = { address: ctx.address, port: ctx.port };
  const timeoutMs = check.options.timeout_ms;
  const p = check.params as { send?: string; expect?: string; noReply?: boolean };
  switch (check.type) {
    case 'tcp': {
      if (p.send === undefined && p.expect === undefined) {
        const syn = deps.synProber;
        if (syn) {
          const v = ctx.vipReal;
          const t = SynProber.target(target, v === undefined ? undefined : { method: v.method, real: v.address });
          return { run: (signal) => syn.probe(t, timeoutMs, signal), method: 'syn' };
        }
        const run: Probe = (signal) => probeTcpConnect(target, timeoutMs, signal, ctx.via);
        return deps.synUnavailable === undefined ? { run, method: 'connect' } : { run, method: 'connect', degraded: `not SYN: ${deps.synUnavailable}` };
      }
      const opts = { timeoutMs, send: p.send, expect: p.expect };
      return { run: (signal) => probeTcp(target, opts, signal), method: 'socket' };
    }
    case 'udp': {
      const opts = { timeoutMs, send: p.send, expect: p.expect, noReply: p.noReply };
      const memory: UdpMemory = { unreachable: deps.unreachable };
      return { run: (signal) => probeUdp(target, opts, signal, memory), method: 'socket' };
    }
    case 'http':
    case 'https': {
      const plan = planHttp({ ...httpOptions(check.type, check.params), timeoutMs });
      return { run: (signal) => probeHttp(target, plan, signal), method: 'http' };
    }
    case 'exec': {
      const plan = planExec({ ...check.params, timeoutMs });
      const who = { ...target, vip: ctx.vip, vipPort: ctx.vipPort, service: ctx.service };
      return { run: (signal) => probeExec(who, plan, deps.execLimiter, signal), method: 'exec' };
    }
  }
}
