// SPDX-License-Identifier: Apache-2.0
// IPv4 TCP frames for the flow-scale benchmark, made by patching one template in place: a million
// distinct SYNs cost a million buildFrame() calls otherwise, which would time the builder rather
// than the table. Each patch rewrites the source address and port and recomputes both checksums,
// so every frame is one a NIC could have delivered.

import { buildFrame } from '../../testing/frames.js';
import { finish, pseudoSum, sum16 } from '../../testing/frame-checksum.js';
import { InvalidArgumentError } from '../../src/errors.js';

const ETH = 14;
const IP_SRC = ETH + 12;
const IP_CSUM = ETH + 10;
const TCP = ETH + 20;
const TCP_CSUM = TCP + 16;
const TCP_LEN = 20;

export interface TcpTemplate {
  srcMac: string;
  dstMac: string;
  dst: string;
  dport: number;
  flags: string;
}

/** One reusable frame; set() rewrites its source and returns it (valid until the next set()). */
export class TcpFrame {
  readonly frame: Buffer;

  constructor(t: TcpTemplate) {
    this.frame = buildFrame({
      eth: { src: t.srcMac, dst: t.dstMac },
      l3: { kind: 'ipv4', src: '0.0.0.0', dst: t.dst, df: true, ttl: 64, l4: { kind: 'tcp', sport: 1, dport: t.dport, seq: 1, ack: t.flags.includes('ACK') ? 1 : 0, flags: t.flags } },
    });
    if (this.frame.length !== TCP + TCP_LEN) throw new InvalidArgumentError('template', this.frame.length, `expected a ${TCP + TCP_LEN}-byte IPv4 TCP frame without options`);
  }

  /** src: the IPv4 address as a 32-bit number; sport (and dport if given): 1..65535. */
  set(src: number, sport: number, dport?: number): Buffer {
    const f = this.frame;
    f.writeUInt32BE(src >>> 0, IP_SRC);
    f.writeUInt16BE(sport, TCP);
    if (dport !== undefined) f.writeUInt16BE(dport, TCP + 2);
    f.writeUInt16BE(0, IP_CSUM);
    f.writeUInt16BE(finish(sum16(f, ETH, TCP)), IP_CSUM);
    f.writeUInt16BE(0, TCP_CSUM);
    f.writeUInt16BE(finish(sum16(f, TCP, TCP + TCP_LEN, pseudoSum(f, ETH, false, 6, TCP_LEN))), TCP_CSUM);
    return f;
  }
}

export const ipv4Number = (text: string): number => text.split('.').reduce((a, o) => a * 256 + Number(o), 0);
export const ipv4Text = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** 198.18.0.0/15 (RFC 2544, benchmarking): the sources of the benchmark's many flows. */
export const BENCH_NET = ipv4Number('198.18.0.0');
export const BENCH_NET_SIZE = 1 << 17;
/** Source ports 1024..65023 per address: flow i is (BENCH_NET + i / 64000, 1024 + i % 64000). */
const PORTS_PER_ADDR = 64000;

export function nthSource(i: number): { src: number; sport: number } {
  return { src: BENCH_NET + Math.floor(i / PORTS_PER_ADDR), sport: 1024 + (i % PORTS_PER_ADDR) };
}
