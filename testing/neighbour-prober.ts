// SPDX-License-Identifier: Apache-2.0
// Who answers ARP / ND for an address, measured on the wire: from one lab namespace (the client,
// a real) a fresh ARP request or Neighbor Solicitation for each target every `everyMs` (raw
// frames, so no neighbour cache and no kernel rate limit decides when one is sent), and tcpdump on
// the same interface recording every ARP reply and every NA addressed to this host, with its
// kernel timestamp and the MAC that sent it. A test then asks which MACs answered a target and
// when: the last answer of the old master against the first of the new one is the time both
// answered.

import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { RawFrames } from '../src/host/raw-frames.js';
import { Netlink } from '../src/host/netlink.js';
import { decodeLink, getLinkByName } from '../src/host/rtnl-messages.js';
import { icmpv6Checksum, macBytes } from '../src/ha/announce.js';
import { parseIPv4, parseIPv6 } from '../src/model/ip.js';
import { stopChild } from '../lab/child.js';
import type { HaLab } from '../lab/ha-lab.js';

/** One answer seen: unix ms (the capture's kernel timestamp), the sender MAC, the address answered for. */
export interface Answer {
  atMs: number;
  mac: string;
  target: string;
}

const DEV = 'eth0';
const CAPTURE_READY_MS = 5_000;

/** ARP request (who-has target tell me), broadcast. */
export function arpRequest(mac: string, ip: string, target: string): Buffer {
  const f = Buffer.alloc(60);
  f.fill(0xff, 0, 6);
  f.set(macBytes(mac), 6);
  f.writeUInt16BE(0x0806, 12);
  f.writeUInt16BE(1, 14); // Ethernet
  f.writeUInt16BE(0x0800, 16);
  f[18] = 6;
  f[19] = 4;
  f.writeUInt16BE(1, 20); // request
  f.set(macBytes(mac), 22);
  f.writeUInt32BE(ipv4(ip), 28);
  f.writeUInt32BE(ipv4(target), 38);
  return f;
}

/** Neighbor Solicitation for target, to its solicited-node group, with my link-layer address. */
export function neighborSolicitation(mac: string, ip: string, target: string): Buffer {
  const t = ipv6(target);
  const group = Buffer.from('ff0200000000000000000001ff000000', 'hex');
  group.set(t.subarray(13, 16), 13);
  const f = Buffer.alloc(14 + 40 + 32);
  f.set([0x33, 0x33, 0xff, t[13]!, t[14]!, t[15]!], 0);
  f.set(macBytes(mac), 6);
  f.writeUInt16BE(0x86dd, 12);
  f.writeUInt32BE(0x60000000, 14);
  f.writeUInt16BE(32, 18);
  f[20] = 58; // ICMPv6
  f[21] = 255;
  f.set(ipv6(ip), 22);
  f.set(group, 38);
  const icmp = f.subarray(54);
  icmp[0] = 135;
  icmp.set(t, 8);
  icmp[24] = 1; // source link-layer address option, 8 bytes
  icmp[25] = 1;
  icmp.set(macBytes(mac), 26);
  icmp.writeUInt16BE(icmpv6Checksum(ipv6(ip), group, icmp), 2);
  return f;
}

function ipv4(s: string): number {
  const v = parseIPv4(s);
  if (v === null) throw new Error(`not IPv4: ${s}`);
  return v;
}

function ipv6(s: string): Buffer {
  const v = parseIPv6(s);
  if (v === null) throw new Error(`not IPv6: ${s}`);
  return v;
}

/** `1733570000.123456 aa:..:ff > ...: Reply 203.0.113.100 is-at ...` or `... tgt is 2001:db8:1::100, ...`. */
export function parseAnswer(line: string): Answer | undefined {
  const m = /^(\d+\.\d+) ([0-9a-f:]{17}) > .*?(?:Reply (\S+) is-at|neighbor advertisement, tgt is ([^,\s]+))/.exec(line);
  if (m === null) return undefined;
  return { atMs: Number(m[1]) * 1000, mac: m[2]!, target: (m[3] ?? m[4])! };
}

export class NeighbourProber {
  readonly answers: Answer[] = [];
  /** Requests sent per target. */
  readonly sent = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  private constructor(
    private readonly frames: RawFrames,
    private readonly requests: Array<{ target: string; frame: Buffer }>,
    private readonly capture: ChildProcess,
  ) {}

  /** Starts capturing in `ns` and asking for `targets` (IPv4 by ARP, IPv6 by NS) every everyMs. */
  static async start(lab: HaLab, ns: string, me: { v4: string; v6: string }, targets: string[], everyMs = 10): Promise<NeighbourProber> {
    const link = lab.inNs(ns, () => {
      const nl = Netlink.open();
      try {
        const [m] = nl.get(getLinkByName(DEV));
        if (m === undefined) throw new Error(`${ns}: no ${DEV}`);
        return decodeLink(m);
      } finally {
        nl.close();
      }
    });
    if (link.mac === undefined) throw new Error(`${ns}:${DEV} has no MAC`);
    const mac = link.mac;
    const requests = targets.map((target) => ({
      target,
      frame: parseIPv4(target) !== null ? arpRequest(mac, me.v4, target) : neighborSolicitation(mac, me.v6, target),
    }));
    const filter = `(arp and arp[6:2] = 2) or (icmp6 and ip6[40] = 136 and ip6 dst ${me.v6})`;
    const capture = lab.spawn(ns, ['tcpdump', '-i', DEV, '-n', '-e', '-l', '-tt', '--immediate-mode', filter]);
    const frames = lab.inNs(ns, () => new RawFrames({ ifindex: link.index, batch: requests.length, frameMax: 128 }));
    const p = new NeighbourProber(frames, requests, capture);
    try {
      await p.listening();
    } catch (e) {
      frames.close();
      await stopChild(capture);
      throw e;
    }
    createInterface({ input: capture.stdout! }).on('line', (line) => {
      const a = parseAnswer(line);
      if (a !== undefined) p.answers.push(a);
    });
    p.timer = setInterval(() => p.ask(), everyMs);
    p.ask();
    return p;
  }

  private listening(): Promise<void> {
    return new Promise((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`tcpdump not listening within ${CAPTURE_READY_MS} ms: ${err}`)), CAPTURE_READY_MS);
      this.capture.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('listening on')) {
          clearTimeout(timer);
          resolve();
        }
      });
      this.capture.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`tcpdump exited (code ${code}): ${err}`));
      });
    });
  }

  private ask(): void {
    this.requests.forEach((r, i) => this.frames.slot(i).set(r.frame));
    const r = this.frames.send(this.requests.map((q) => q.frame.length));
    for (let i = 0; i < r.sent; i++) {
      const t = this.requests[i]!.target;
      this.sent.set(t, (this.sent.get(t) ?? 0) + 1);
    }
  }

  /** Answers for target (since sinceMs), oldest first. */
  of(target: string, sinceMs = 0): Answer[] {
    return this.answers.filter((a) => a.target === target && a.atMs >= sinceMs);
  }

  /** Stops asking; gives tcpdump time to print what it has, then stops it. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.frames.close();
    await new Promise((r) => setTimeout(r, 200));
    await stopChild(this.capture);
  }
}

/**
 * The hand-over of a target's answers from MAC `from` to MAC `to`: the last answer of `from`, the
 * first of `to` after it started answering for good, the time both answered (last of from − first
 * of to, 0 when none) and the time neither did (first of to − last of from, 0 when they overlap).
 * Throws when any other MAC answered.
 */
export function handOver(answers: Answer[], from: string, to: string): { lastFromMs: number; firstToMs: number; bothMs: number; neitherMs: number; fromCount: number; toCount: number } {
  const other = answers.find((a) => a.mac !== from && a.mac !== to);
  if (other !== undefined) throw new Error(`an unexpected MAC answered: ${JSON.stringify(other)}`);
  const f = answers.filter((a) => a.mac === from);
  const t = answers.filter((a) => a.mac === to);
  const lastFromMs = f.length === 0 ? -Infinity : f[f.length - 1]!.atMs;
  const firstToMs = t.length === 0 ? Infinity : t[0]!.atMs;
  return {
    lastFromMs, firstToMs, fromCount: f.length, toCount: t.length,
    bothMs: Math.max(0, lastFromMs - firstToMs), neitherMs: Math.max(0, firstToMs - lastFromMs),
  };
}

export interface RouterProbers {
  /** From the client: the VIPs (v4, v6). */
  pub: NeighbourProber;
  /** From the first real: the gateways (v4, v6). */
  prv: NeighbourProber;
  stop(): Promise<void>;
}

/** Probers for the HA lab's floating addresses: the VIPs from the client, the gateways from the first real. */
export async function routerProbers(lab: HaLab): Promise<RouterProbers> {
  const a4 = lab.addr.v4;
  const a6 = lab.addr.v6;
  const pub = await NeighbourProber.start(lab, lab.ns.client, { v4: a4.client, v6: a6.client }, [a4.vip, a6.vip]);
  const prv = await NeighbourProber.start(lab, lab.ns.reals[0]!, { v4: a4.reals[0]!, v6: a6.reals[0]! }, [a4.gateway, a6.gateway]).catch(async (e: unknown) => {
    await pub.stop();
    throw e;
  });
  return { pub, prv, stop: async () => void (await Promise.all([pub.stop(), prv.stop()])) };
}
