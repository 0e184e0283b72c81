// SPDX-License-Identifier: Apache-2.0
// A configured health check as the model holds it (a service's or a real's `check:`): its type,
// the options every type shares, where it goes and its type's own options, already validated.
// Here rather than in health/ so that the model needs nothing of the health checker (which
// needs the model); the checker's validators and probes are in src/health/.

export type CheckType = 'tcp' | 'udp' | 'http' | 'https' | 'exec';
export const CHECK_TYPES: readonly CheckType[] = ['tcp', 'udp', 'http', 'https', 'exec'];

export type InitialState = 'up' | 'down';
export type OnFailure = 'quiesce' | 'remove';

/** on_failure: remove — what happens to the real's existing flows. */
export type RemoveFlows = 'drop' | 'reset';

export interface CheckOptions {
  interval_ms: number; // time between the starts of two probes of one target
  timeout_ms: number; // hard deadline of one probe; <= interval_ms so probes never overlap
  rise: number; // consecutive successes that bring a down target up
  fall: number; // consecutive failures that take an up target down
  initial: InitialState; // state before the first probe: trusted (up) or down until proven
  jitter: number; // 0..1, fraction of interval_ms by which a target's probes are shifted
  reentry_ms: number; // a target that went down is not up again before this long since
  slow_start_ms: number; // after coming up, weight ramps to the configured one over this long
  on_failure: OnFailure; // quiesce: weight 0, flows continue; remove: the real is taken out
}

export interface CheckSpec {
  type: CheckType;
  options: CheckOptions;
  /** Only used with options.on_failure 'remove'. */
  remove_flows: RemoveFlows;
  /** Check this address instead of the real's (same family as the service). */
  address?: string;
  /**
   * `address: vip`: check the service's VIP on the real (a dr or tun real serves the VIP): a
   * SYN from the data plane to the VIP by way of that real, or (without SYN checks, dr, IPv4)
   * a socket steered there by policy routing.
   */
  vip?: true;
  /** Check this port instead of the real's; required when the real keeps the client's port. */
  port?: number;
  /**
   * The type's own options in the form its probe takes (camelCase), validated at load:
   * tcp { send?, expect? }; udp { send?, expect?, noReply? }; http/https: see probes/http.ts;
   * exec: see probes/exec.ts. timeoutMs is not here: it is options.timeout_ms.
   */
  params: Readonly<Record<string, unknown>>;
}
