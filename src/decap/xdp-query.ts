// SPDX-License-Identifier: Apache-2.0
// Which XDP program an interface runs, and in which mode (libbpf bpf_xdp_query). A bpf_link's
// info names the interface but not the mode, so this is how a re-attach notices that the
// wanted mode differs and how status tells native from generic.

import { check, lib } from '../kernel/libbpf.js';
import type { XdpMode } from '../kernel/link.js';

const xdpQuery = lib.xdp_query;

// struct bpf_xdp_query_opts (libbpf 1.1): size_t sz; u32 prog_id, drv_prog_id, hw_prog_id,
// skb_prog_id; u8 attach_mode; padded to 32 bytes.
const OPTS_SIZE = 32;

export interface XdpState {
  /** Program run in driver (native) mode, 0 when none. */
  drvProgId: number;
  /** Program run in generic (skb) mode, 0 when none. */
  skbProgId: number;
  /** Offloaded program, 0 when none. */
  hwProgId: number;
}

export function queryXdp(ifindex: number): XdpState {
  const o = Buffer.alloc(OPTS_SIZE);
  o.writeBigUInt64LE(BigInt(OPTS_SIZE), 0);
  check(`query xdp on ifindex ${ifindex}`, xdpQuery(ifindex, 0, o));
  return { drvProgId: o.readUInt32LE(12), hwProgId: o.readUInt32LE(16), skbProgId: o.readUInt32LE(20) };
}

/** The mode in which progId runs on the interface, or null when it does not run there. */
export function modeOf(state: XdpState, progId: number): XdpMode | null {
  if (progId !== 0 && state.drvProgId === progId) return 'native';
  if (progId !== 0 && state.skbProgId === progId) return 'generic';
  return null;
}

/** Any program on the interface, whatever the mode: 0 when it has none. */
export function anyProgId(state: XdpState): number {
  return state.drvProgId || state.skbProgId || state.hwProgId;
}
