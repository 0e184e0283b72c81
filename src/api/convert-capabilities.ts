// SPDX-License-Identifier: Apache-2.0
// GetCapabilities between the model (host/capabilities.ts) and the wire (the generated types),
// and its rendering for `xlvsctl capabilities`. The client decodes strictly: a field that does
// not fit is an error naming it.

import { InvalidArgumentError } from '../errors.js';
import { CAPABILITY_NAMES, type CapabilityName, type CapabilityReport } from '../host/capabilities.js';
import type { GetCapabilitiesResponse__Output } from '../gen/proto/xlvs/v1/GetCapabilitiesResponse.js';
import type { Received } from './received.js';

export function capabilitiesToWire(r: CapabilityReport): GetCapabilitiesResponse__Output {
  return {
    kernel: r.kernel,
    capabilities: r.list.map((c) => ({ name: c.name, available: c.available, detail: c.detail, needed_by: c.neededBy })),
    syn_checks_configured: r.synChecks.configured,
    syn_checks_running: r.synChecks.running,
    syn_checks_problem: r.synChecks.problem ?? '',
  };
}

function nameFromWire(field: string, v: unknown): CapabilityName {
  if (typeof v !== 'string' || !(CAPABILITY_NAMES as readonly string[]).includes(v)) {
    throw new InvalidArgumentError(field, v, `must be one of ${CAPABILITY_NAMES.join(', ')}`);
  }
  return v as CapabilityName;
}

export function capabilitiesFromWire(w: Received<GetCapabilitiesResponse__Output>): CapabilityReport {
  return {
    kernel: w.kernel,
    list: w.capabilities.map((c, i) => ({ name: nameFromWire(`capabilities[${i}].name`, c.name), available: c.available === true, detail: c.detail, neededBy: c.needed_by })),
    synChecks: {
      configured: w.syn_checks_configured === true,
      running: w.syn_checks_running === true,
      ...(w.syn_checks_problem ? { problem: w.syn_checks_problem } : {}),
    },
  };
}

/**
 * `xlvsctl capabilities`:
 *
 *   kernel 6.18.44
 *   bpf_jit          yes  net.core.bpf_jit_enable = 1
 *   packet_socket    no   socket(AF_PACKET, SOCK_RAW) failed: errno 1: needs CAP_NET_RAW
 *                         needed by: SYN health checks (...); without it tcp checks use connect() ...
 *   syn checks: configured, not running: packet_socket: ...
 */
export function formatCapabilities(r: CapabilityReport): string {
  const width = Math.max(...r.list.map((c) => c.name.length));
  const lines = [`kernel ${r.kernel}`];
  for (const c of r.list) {
    lines.push(`${c.name.padEnd(width)}  ${c.available ? 'yes' : 'no '}  ${c.detail}`);
    if (!c.available) lines.push(`${' '.repeat(width + 7)}needed by: ${c.neededBy}`);
  }
  const s = r.synChecks;
  const syn = !s.configured ? 'off (health.syn_checks: false): tcp checks use connect()' : s.running ? 'running' : `configured, not running: ${s.problem ?? 'no reason given'}; tcp checks use connect()`;
  lines.push(`syn checks: ${syn}`);
  return lines.join('\n') + '\n';
}
