// SPDX-License-Identifier: Apache-2.0
// Preparing a lab's real servers for the forwarding methods other than nat:
//   dr / tun   the real holds the VIP on lo and must not answer ARP for it (arp_ignore=1,
//              arp_announce=2: the LVS-DR recipe); tun also needs the decap program on eth0
//              (no ipip module here) and rp_filter off (the inner source arrives on eth0)
//   fullnat    the real has no route to the clients at all: its default route is removed
// plus a peer-echo server (peer-echo-server.ts) per real.

import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isIP } from 'node:net';
import { captureStderr, stopChild, waitForLine } from './child.js';
import { LabError } from './errors.js';
import type { Lab } from './lab.js';
import type { RunResult } from './proc.js';
import { fromRoot } from '../src/paths.js';

const ECHO_JS = fileURLToPath(new URL('./peer-echo-server.js', import.meta.url));
const DECAP_CLI = fromRoot('dist/src/cli/xlvs-decap.js');
const READY_TIMEOUT_MS = 10_000;

/** What preparing the reals needs of a lab: the one-router lab and the HA lab (ha-lab.ts) both have it. */
export interface RealsLab {
  readonly prefix: string;
  readonly ns: { readonly reals: readonly string[] };
  exec(ns: string, cmd: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
}

async function steps(lab: RealsLab, ns: string, cmds: string[][]): Promise<void> {
  for (const argv of cmds) {
    try {
      await lab.exec(ns, argv);
    } catch (err) {
      throw new LabError(`real setup in ${ns} failed: ${argv.join(' ')}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
}

/** dr/tun: VIPs on lo, no ARP answers or announcements for them, no reverse-path filter. */
export async function holdVips(lab: RealsLab, real: number, vips: string[]): Promise<void> {
  const ns = lab.ns.reals[real]!;
  await steps(lab, ns, [
    ...vips.map((v) => (isIP(v) === 6 ? ['ip', '-6', 'addr', 'add', `${v}/128`, 'dev', 'lo', 'nodad'] : ['ip', 'addr', 'add', `${v}/32`, 'dev', 'lo'])),
    ...['all', 'eth0'].flatMap((c) => [
      ['sysctl', '-q', '-w', `net.ipv4.conf.${c}.arp_ignore=1`],
      ['sysctl', '-q', '-w', `net.ipv4.conf.${c}.arp_announce=2`],
    ]),
    ...['all', 'default', 'eth0', 'lo'].map((c) => ['sysctl', '-q', '-w', `net.ipv4.conf.${c}.rp_filter=0`]),
  ]);
}

/** fullnat: the real keeps only its connected routes. */
export async function dropDefaultRoutes(lab: RealsLab, real: number): Promise<void> {
  const ns = lab.ns.reals[real]!;
  await steps(lab, ns, [['ip', '-4', 'route', 'del', 'default'], ['ip', '-6', 'route', 'flush', 'default']]);
}

/** Pin dir of the decap attachment of real `i` (bpffs is shared by all namespaces). */
export const decapPinDir = (lab: RealsLab, real: number): string => `/sys/fs/bpf/${lab.prefix}decap-rs${real + 1}`;

/** tun: attaches xlvs_decap to the real's eth0, accepting tunnels only from `allow` (the
 * router's local addresses) to `vips` (held on lo first: holdVips). */
export async function attachDecap(lab: RealsLab, real: number, allow: string[], vips: string[]): Promise<void> {
  const ns = lab.ns.reals[real]!;
  await steps(lab, ns, [[process.execPath, DECAP_CLI, '--pin-dir', decapPinDir(lab, real), 'attach', 'eth0',
    ...allow.flatMap((a) => ['--allow', a]), ...vips.flatMap((v) => ['--vip', v])]]);
}

/** xlvs_decap's counters on real `i` (xlvs-decap status --json), by name. */
export async function decapCounters(lab: RealsLab, real: number): Promise<Record<string, bigint>> {
  const { stdout } = await lab.exec(lab.ns.reals[real]!, [process.execPath, DECAP_CLI, '--pin-dir', decapPinDir(lab, real), 'status', 'eth0', '--json']);
  const list = JSON.parse(stdout) as Array<{ counters: Record<string, string> }>;
  const counters = list[0]?.counters;
  if (counters === undefined) throw new LabError(`xlvs-decap status on rs${real + 1} listed no attachment: ${stdout.slice(0, 300)}`);
  return Object.fromEntries(Object.entries(counters).map(([k, v]) => [k, BigInt(v)]));
}

/** Removes the decap pins of real `i` (the link itself goes with the namespace). */
export function removeDecapPins(lab: RealsLab, real: number): void {
  rmSync(decapPinDir(lab, real), { recursive: true, force: true });
}

/** Starts the peer-echo server in real `i`; the lab stops it on destroy. */
export async function startEcho(lab: Lab, real: number, ports: number[], delayMs = 0): Promise<void> {
  const name = `rs${real + 1}`;
  const child = lab.spawn(lab.ns.reals[real]!, [process.execPath, ECHO_JS, '--name', name, '--ports', ports.join(','), '--delay-ms', String(delayMs)]);
  const tail = captureStderr(child, (line) => lab.log.debug({ real: name, line }, 'echo server stderr'));
  try {
    await waitForLine(child, 'READY', READY_TIMEOUT_MS, tail);
  } catch (err) {
    await stopChild(child);
    throw new LabError(`echo server ${name} did not start: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** One echo answer: which real, the peer it saw, and how many connections it had open. */
export interface EchoAnswer {
  real: string;
  peer: string;
  port: number;
  /** The address the connection was made to, as the real saw it. */
  local: string;
  open: number;
}

/** Turns a client tally (counts keyed by echo bodies) into answers, one per response. */
export function echoAnswers(counts: Record<string, number>): EchoAnswer[] {
  return Object.entries(counts).flatMap(([body, n]) => {
    const [real, peer, port, local, open] = body.split(' ');
    if (real === undefined || peer === undefined || port === undefined || local === undefined || open === undefined) {
      throw new LabError(`not an echo answer: ${JSON.stringify(body)}`);
    }
    return Array.from({ length: n }, () => ({ real, peer, port: Number(port), local, open: Number(open) }));
  });
}

/** The method lab's layout, shared by the tests that drive it with and without the daemon. */
export const METHOD_LAB = {
  local4: '10.77.0.2',
  local6: 'fd00:77::2',
  ports: { nat: 8001, dr: 8002, tun: 8003, fullnat: 8004 },
  fullnatDelayMs: 400,
} as const;

/** Router local addresses (tun's outer source, fullnat's client-side source); rs1, rs2 hold the
 * VIPs, decapsulate and echo on the nat/dr/tun ports; rs3, rs4 have no route to clients and echo
 * slowly (so fullnat connections overlap) on the fullnat port. Needs a lab of 4 reals. */
export async function prepareMethodLab(lab: Lab, vips: string[]): Promise<void> {
  const { local4, local6, ports, fullnatDelayMs } = METHOD_LAB;
  await lab.exec(lab.ns.router, ['ip', 'addr', 'add', `${local4}/24`, 'dev', lab.ifaces.private]);
  await lab.exec(lab.ns.router, ['ip', '-6', 'addr', 'add', `${local6}/64`, 'dev', lab.ifaces.private, 'nodad']);
  for (const i of [0, 1]) {
    await holdVips(lab, i, vips);
    await attachDecap(lab, i, [local4, local6], vips);
    await startEcho(lab, i, [ports.nat, ports.dr, ports.tun]);
  }
  for (const i of [2, 3]) {
    await dropDefaultRoutes(lab, i);
    await startEcho(lab, i, [ports.fullnat], fullnatDelayMs);
  }
}
