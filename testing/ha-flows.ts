// SPDX-License-Identifier: Apache-2.0
// Many flows through the HA lab's VIP, fast, and a census of a router's table: for the bulk-sync
// test (issue 15, test 7) and the sync-cost benchmark. SYNs from 198.18.0.0/15 (RFC 2544), sent
// from the client namespace by one AF_PACKET socket (src/host/raw-frames.ts, sendmmsg) straight
// to a router's public MAC; each SYN is a new (half-open) flow. The reals drop those sources
// before their stack (nft), so no SYN-ACK comes back to change or end them, and the routers get
// a route back for the range (source validation: loose wants one).

import { lib } from '../src/kernel/libbpf.js';
import { libc } from '../src/kernel/libc.js';
import { monotonicNs } from '../src/dataplane/reaper.js';
import { RawFrames, EAGAIN, ENOBUFS } from '../src/host/raw-frames.js';
import { XLVS_DIR_FORWARD } from '../src/gen/abi.js';
import { TcpFrame, nthSource, ipv4Number } from '../bench/flow-scale/flow-scale-frames.js';
import { FLOW, walkFlows } from '../bench/flow-scale/flow-scale-walk.js';
import type { HaLab, RouterName } from '../lab/ha-lab.js';

export const FLOOD_NET = '198.18.0.0/15';
const BATCH = 256;

/** Routes back for the flood's sources on both routers; a drop of them in every real. */
export async function prepareFlood(lab: HaLab): Promise<void> {
  for (const r of ['r1', 'r2'] as const) {
    await lab.exec(lab.routerNs(r), ['ip', 'route', 'replace', FLOOD_NET, 'via', lab.addr.v4.client, 'dev', lab.ifaces.public]);
  }
  for (const ns of lab.ns.reals) {
    await lab.exec(ns, ['nft', `add table inet xlvsflood
      add chain inet xlvsflood pre { type filter hook prerouting priority -300; }
      add rule inet xlvsflood pre ip saddr ${FLOOD_NET} drop`]);
  }
}

/** A SYN sender in the client namespace, aimed at router r's public MAC and the VIP:port. */
export class SynFlood {
  private readonly raw: RawFrames;
  private readonly tpl: TcpFrame;
  private readonly lengths: number[];
  /** Frames the device refused for good (after retries). */
  refused = 0;

  constructor(lab: HaLab, r: RouterName, dport: number) {
    const dstMac = lab.macOf(r, 'public');
    this.tpl = new TcpFrame({ srcMac: '02:00:00:00:00:02', dstMac, dst: lab.addr.v4.vip, dport, flags: 'SYN' });
    this.lengths = new Array<number>(BATCH).fill(this.tpl.frame.length);
    this.raw = lab.inNs(lab.ns.client, () => {
      const ifindex = libc.if_nametoindex('eth0') as number;
      if (ifindex === 0) throw new Error('the client namespace has no eth0');
      return new RawFrames({ ifindex, batch: BATCH, frameMax: 128 });
    });
  }

  /** Sends SYNs of flows first..first+count-1 (nthSource numbering); synchronous. */
  send(first: number, count: number): number {
    let sent = 0;
    for (let i = first; i < first + count; i += BATCH) {
      const n = Math.min(BATCH, first + count - i);
      for (let j = 0; j < n; j++) {
        const s = nthSource(i + j);
        this.raw.slot(j).set(this.tpl.set(s.src, s.sport));
      }
      let left = n;
      for (let tries = 0; left > 0 && tries < 1000; tries++) {
        const r = this.raw.send(this.lengths.slice(0, left));
        if (r.errno !== 0 && r.errno !== EAGAIN && r.errno !== ENOBUFS) throw new Error(`sendmmsg: errno ${r.errno}`);
        // The frames the device refused move to the front for the next try.
        for (let k = 0; k < left - r.sent; k++) this.raw.slot(k).set(this.raw.slot(r.sent + k));
        left -= r.sent;
      }
      this.refused += left;
      sent += n - left;
    }
    return sent;
  }

  close(): void {
    this.raw.close();
  }
}

/** A router's flows map, opened from its pin (the test process reads the table itself). */
export function openFlows(lab: HaLab, r: RouterName): number {
  const path = `/sys/fs/bpf/${lab.prefix}${r}/maps/flows`;
  const fd = lib.obj_get(path) as number;
  if (fd < 0) throw new Error(`bpf_obj_get ${path}: errno ${-fd}`);
  return fd;
}

/** Live forward entries of flows to `vip` (an IPv4 address) whose source is in the flood's range. */
export function countFloodFlows(fd: number, vip: string): number {
  const v = ipv4Number(vip);
  const lo = ipv4Number('198.18.0.0');
  const hi = lo + (1 << 17);
  const now = monotonicNs();
  let n = 0;
  walkFlows(fd, (keys, k, vals, off) => {
    if (vals[off + FLOW.dir] !== XLVS_DIR_FORWARD) return;
    if (keys.readUInt32BE(k + FLOW.dst) !== v) return;
    const src = keys.readUInt32BE(k + FLOW.src);
    if (src < lo || src >= hi) return;
    if (vals.readBigUInt64LE(off + FLOW.expires) < now) return;
    n++;
  });
  return n;
}
