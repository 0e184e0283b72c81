// SPDX-License-Identifier: Apache-2.0
// The peers of the forwarding benchmark: each one turns the lab router into one kind of
// forwarder (up), says where the stream goes and what the sink must see, and undoes it (down),
// so that the rounds can alternate them on the same lab. The baseline is no router at all: the
// generator's frames are counted and dropped as they arrive on pub0.

import { DEFAULT_PASS_OBJECT } from '../../lab/lab.js';
import { ForwardingEnv, REALS, UDP_PORT, VIP } from './forwarding-env.js';
import { conntrackCount, flushConntrack, startNft, stopNft, type NftSpec } from '../peers/nftables.js';

export type PeerId = 'baseline' | 'xlvs' | 'xlvs-16' | 'nftables' | 'kernel' | 'xdp-fwd';

/** Flows of the xlvs-16 variant: few enough that its flow entries stay in the caches and the TLB. */
export const FEW_FLOWS = 16;

export interface Peer {
  id: PeerId;
  /** One line for the report's setup list: exactly how the router was set up. */
  setup: string;
  /** The stream's destination address. */
  dst: string;
  /** Source ports (flows) of the stream, when not the run's (ForwardingOptions.ports). */
  ports?: number;
  /** Every destination the sink may count ("addr:port/17"); with several, each gets ~1/n. */
  expect: string[];
  /** The sink that counts this peer's delivered frames. */
  sink(env: ForwardingEnv): ForwardingEnv['sink'];
  /** The router program's XDP device, for its run-time statistics (baseline: the sink). */
  xdpDev: 'pub0';
  /**
   * Connection-tracking entries the peer holds after a turn (xlvs: flow entries, two per flow;
   * nftables: conntrack entries, one per flow), to show it really saw every flow; none for the others.
   */
  stateEntries?(env: ForwardingEnv): Promise<{ entries: number; perFlow: number }>;
  up(env: ForwardingEnv): Promise<void>;
  down(env: ForwardingEnv): Promise<void>;
}

const realDst = (a: string): string => `${a}:${UDP_PORT}/17`;

const passOn = (env: ForwardingEnv): Promise<string> => env.router(['ip', '-force', 'link', 'set', 'dev', 'pub0', 'xdpdrv', 'obj', DEFAULT_PASS_OBJECT, 'sec', 'xdp']);
const xdpOff = (env: ForwardingEnv): Promise<string> => env.router(['ip', 'link', 'set', 'dev', 'pub0', 'xdpdrv', 'off']);

/** The kube-proxy style rule set: DNAT by a round-robin counter over the four reals, port kept. */
export const NFT_SPEC: NftSpec = { proto: 'udp', vip: VIP, port: UDP_PORT, reals: REALS };

/** xlvs NAT with a stream of `ports` flows (the run's when undefined); the two xlvs peers differ only there. */
function xlvsPeer(id: 'xlvs' | 'xlvs-16', setup: string, ports?: number): Peer {
  return {
    id,
    ...(ports === undefined ? {} : { ports }),
    setup,
    dst: VIP,
    expect: REALS.map(realDst),
    sink: (env) => env.sink,
    xdpDev: 'pub0',
    stateEntries: async (env) => ({ entries: env.countFlows(), perFlow: 2 }),
    up: async (env) => {
      env.clearFlows();
      env.attachXlvs();
    },
    down: async (env) => env.detachXlvs(),
  };
}

export const PEERS: readonly Peer[] = [
  {
    id: 'baseline',
    setup: 'no router: the generator\'s frames are counted and dropped by a second sink on the router\'s pub0 as they arrive (the generator\'s and the sink\'s own cost, the floor every other peer includes).',
    dst: VIP,
    expect: [`${VIP}:${UDP_PORT}/17`],
    sink: (env) => env.pubSink,
    xdpDev: 'pub0',
    up: async (env) => env.pubSink.attach(env.lab.ns.router, 'pub0'),
    down: async (env) => env.pubSink.detach(),
  },
  xlvsPeer('xlvs', `xlvs NAT: build/xlvs.bpf.o loaded with its own pin dir, maps written by the daemon's Reconciler (UDP service ${VIP}:${UDP_PORT}, rr, 4 reals ${REALS[0]}-${REALS[3].split('.')[3]}:${UDP_PORT}, method nat), xlvs_public on pub0 and xlvs_private on priv0 attached as the daemon does (native XDP through bpf_link). Flows deleted before each turn.`),
  xlvsPeer('xlvs-16', `xlvs NAT exactly as above (same object, maps and links), but a stream of only ${FEW_FLOWS} source ports (flows): the same path with its few flow entries hot in the caches and the TLB, to measure what the flow table's memory costs with many flows.`, FEW_FLOWS),
  {
    id: 'nftables',
    setup: `nftables DNAT load balancing, kube-proxy style: \`dnat to numgen inc mod 4 map { 0 : ${REALS[0]}, ... }\` in a prerouting nat chain (priority dstnat) for ${VIP} udp dport ${UDP_PORT}; conntrack on (NAT needs it), \`conntrack -F\` before each turn. No SNAT/masquerade: the reals route back through the router (LVS-NAT topology), so conntrack undoes the DNAT on replies. An XDP_PASS program on pub0 (a veth takes redirected XDP frames only when it runs XDP).`,
    dst: VIP,
    expect: REALS.map(realDst),
    sink: (env) => env.sink,
    xdpDev: 'pub0',
    stateEntries: async (env) => ({ entries: await conntrackCount(env.lab, env.lab.ns.router), perFlow: 1 }),
    up: async (env) => {
      await passOn(env);
      await startNft(env.lab, env.lab.ns.router, NFT_SPEC);
      await flushConntrack(env.lab, env.lab.ns.router);
    },
    down: async (env) => {
      await stopNft(env.lab, env.lab.ns.router);
      await xdpOff(env);
    },
  },
  {
    id: 'kernel',
    setup: `plain kernel forwarding: packets addressed straight to ${REALS[0]}:${UDP_PORT}, net.ipv4.ip_forward=1, no nftables table (no conntrack hook), an XDP_PASS program on pub0 (as for nftables).`,
    dst: REALS[0]!,
    expect: [realDst(REALS[0]!)],
    sink: (env) => env.sink,
    xdpDev: 'pub0',
    up: async (env) => void (await passOn(env)),
    down: async (env) => void (await xdpOff(env)),
  },
  {
    id: 'xdp-fwd',
    setup: `bare XDP forwarder (bench/bpf/bench_fwd.bpf.c) on pub0: parse Ethernet + IPv4, bpf_fib_lookup, TTL-1, MACs, bpf_redirect to priv0; no NAT, no state; packets addressed straight to ${REALS[0]}:${UDP_PORT}.`,
    dst: REALS[0]!,
    expect: [realDst(REALS[0]!)],
    sink: (env) => env.sink,
    xdpDev: 'pub0',
    up: async (env) => void (await env.router(['ip', '-force', 'link', 'set', 'dev', 'pub0', 'xdpdrv', 'pinned', env.fwdProgPath])),
    down: async (env) => void (await xdpOff(env)),
  },
];
