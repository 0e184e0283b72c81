// SPDX-License-Identifier: Apache-2.0
// What this kernel and host let xlvsd do (asked by capabilities-probe.ts, once, at start), and
// what depends on each answer. The report is logged, served by GetCapabilities (xlvsctl
// capabilities), and decides whether the parts that depend on it run as configured: where one
// cannot, the daemon says so with the reason (the log, ListHealth), never silently.
//
// Kernels differ here: BPF_F_TEST_XDP_LIVE_FRAMES is 5.18+ and refused (EPERM) by some
// hardened or sandboxed kernels; BPF_FIB_LOOKUP_SRC is 6.7+; AF_PACKET needs CAP_NET_RAW; a
// kernel without the BPF JIT runs every program interpreted.

export const CAPABILITY_NAMES = ['bpf_jit', 'prog_test_run', 'fib_lookup_src', 'packet_socket', 'xdp_live_frames'] as const;
export type CapabilityName = (typeof CAPABILITY_NAMES)[number];

export interface Capability {
  name: CapabilityName;
  available: boolean;
  /** What was found: "enabled", or the error the kernel answered. */
  detail: string;
  /** Which part of xlvs needs it, and what that part does without it. */
  neededBy: string;
}

export interface Capabilities {
  /** uname -r */
  kernel: string;
  list: Capability[];
}

/** What health checks do without SYN checks. */
const WITHOUT_SYN = 'without it tcp checks use connect(), and a check of the VIP runs on IPv4 dr reals only';

export const NEEDED_BY: Record<CapabilityName, string> = {
  bpf_jit: 'every XDP program; without it the kernel interprets them, at several times the CPU per packet',
  prog_test_run: `SYN health checks (xlvs_private builds each SYN in a test run); ${WITHOUT_SYN}`,
  fib_lookup_src: `SYN health checks (the FIB picks the SYN's source address; Linux 6.7+); ${WITHOUT_SYN}`,
  packet_socket: `SYN health checks (AF_PACKET sends the SYNs; CAP_NET_RAW); ${WITHOUT_SYN}`,
  xdp_live_frames: 'nothing: xlvsd sends the frames it makes itself through AF_PACKET (reported for the record: some kernels refuse it)',
};

/** The capabilities SYN checks need; the first one missing is the reason they cannot run. */
const SYN_NEEDS: readonly CapabilityName[] = ['prog_test_run', 'fib_lookup_src', 'packet_socket'];

/** Why SYN checks cannot run on this host, or undefined when they can. */
export function synChecksProblem(c: Capabilities): string | undefined {
  for (const name of SYN_NEEDS) {
    const cap = c.list.find((x) => x.name === name);
    if (cap === undefined) return `${name}: not probed`;
    if (!cap.available) return `${name}: ${cap.detail}`;
  }
  return undefined;
}

/** GetCapabilities: what was found, and what became of health.syn_checks. */
export interface CapabilityReport extends Capabilities {
  synChecks: { configured: boolean; running: boolean; problem?: string };
}
