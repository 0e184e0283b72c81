// SPDX-License-Identifier: Apache-2.0
// At start: what the kernel lets xlvsd do (host/capabilities-probe.ts, logged and served by
// GetCapabilities), and the SYN prober if SYN checks are configured and can run here. Where they
// cannot, the reason is logged once and shown with every tcp check (ListHealth), which then
// uses connect(), and checks only SYN checks can run are refused (state/health-fit.ts).

import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { Dataplane } from '../dataplane/handles.js';
import { SynProber } from '../health/probes/syn.js';
import { probeTcpConnect } from '../health/probes/tcp-connect.js';
import { probeCapabilities } from '../host/capabilities-probe.js';
import { synChecksProblem, type CapabilityReport } from '../host/capabilities.js';
import { ifindexOf } from '../kernel/link.js';

export interface SynChecksSetup {
  capabilities: CapabilityReport;
  /** Present when SYN checks run. */
  prober: SynProber | undefined;
}

/** objectPath: build/xlvs.bpf.o; the capability programs are beside it (xlvs_caps.bpf.o). */
export function startSynChecks(objectPath: string, config: Config, dp: Dataplane, log: Logger, healthLog: Logger): SynChecksSetup {
  const caps = probeCapabilities(join(dirname(objectPath), 'xlvs_caps.bpf.o'));
  const configured = config.health.synChecks;
  let problem = configured ? synChecksProblem(caps) : undefined;
  let prober: SynProber | undefined;
  if (configured && problem === undefined) {
    try {
      prober = new SynProber({
        progFd: dp.probeTxFd, probesFd: dp.maps.probes.fd, batchFd: dp.maps.probeBatch.fd, ifindex: ifindexOf(config.interfaces.private),
        fallback: (t, timeoutMs, signal) => probeTcpConnect(t, timeoutMs, signal), log: healthLog,
      });
    } catch (err) {
      problem = `the SYN sender on ${config.interfaces.private} could not start: ${(err as Error).message}`;
    }
  }
  const capabilities = { ...caps, synChecks: { configured, running: prober !== undefined, ...(problem === undefined ? {} : { problem }) } };
  log.info({ kernel: caps.kernel, capabilities: Object.fromEntries(caps.list.map((c) => [c.name, c.available ? true : c.detail])) }, 'kernel capabilities');
  if (problem !== undefined) healthLog.warn({ problem }, `health.syn_checks is on, but this host cannot run SYN checks (${problem}): tcp checks use connect()`);
  return { capabilities, prober };
}
