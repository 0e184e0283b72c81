// SPDX-License-Identifier: Apache-2.0
// Which XDP program an interface runs, and in which mode (libbpf bpf_xdp_query). A bpf_link's
// info names the interface but not the mode, so this is how a re-attach notices that the
// wanted mode differs and how status tells native from generic.

import koffi from 'koffi';
import { check, lib } from '../kernel/libbpf.js';
import { bpfXdpQueryOpts, libbpfOpts } from '../kernel/structs.js';
import type { XdpMode } from '../kernel/link.js';

const xdpQuery = lib.xdp_query;

export interface XdpState {
  /** Program run in driver (native) mode, 0 when none. */
  drvProgId: number;
  /** Program run in generic (skb) mode, 0 when none. */
  skbProgId: number;
  /** Offloaded program, 0 when none. */
  hwProgId: number;
}

export function queryXdp(ifindex: number): XdpState {
  const o = libbpfOpts(bpfXdpQueryOpts);
  check(`query xdp on ifindex ${ifindex}`, xdpQuery(ifindex, 0, o));
  const a = koffi.decode(o, bpfXdpQueryOpts) as { drv_prog_id: number; hw_prog_id: number; skb_prog_id: number };
  return { drvProgId: a.drv_prog_id, hwProgId: a.hw_prog_id, skbProgId: a.skb_prog_id };
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
