// SPDX-License-Identifier: Apache-2.0
// What the flow-scale benchmark runs against: a lab (client | router | lan), the real xlvs object
// loaded with its own pin dir and configured through the Reconciler, with two wlc services on the
// VIP: port 80 (reals 10.77.0.11-14:8080) takes the new flows and the SYN flood, port 443 (reals
// 10.77.0.21-24:8443) the established flows, so the sink tells their packets apart by
// destination. Every real has a permanent neighbour entry (rs1's MAC): frames leave priv0 for the
// lan's to-rtr port, where the sink counts and drops them. xlvs can be attached to the router's
// interfaces (live runs) or detached (the nftables peer, or test runs). close() removes it all.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type pino from 'pino';
import { Lab } from '../../lab/lab.js';
import { LAN_ROUTER_PORT } from '../../lab/topology.js';
import { XdpLink } from '../../src/kernel/link.js';
import { unpin } from '../../src/kernel/bpffs.js';
import { ifindexIn, inNetns } from '../../src/kernel/test-run.js';
import { TestDataplane } from '../../testing/fixture.js';
import { Reconciler } from '../../src/dataplane/reconcile.js';
import { desired, service } from '../../testing/desired.js';
import { labMacs, type Macs } from '../common/lab-macs.js';
import { fromRoot } from '../../src/paths.js';

const ROOT = fromRoot();
export const XLVS_OBJECT = join(ROOT, 'build/xlvs.bpf.o');
const PASS_OBJECT = join(ROOT, 'build/xlvs_pass.bpf.o');

export const VIP = '203.0.113.100';
export const CLIENT = '203.0.113.2';
export const NEW_PORT = 80;
export const NEW_REALS = ['10.77.0.11', '10.77.0.12', '10.77.0.13', '10.77.0.14'];
export const NEW_REAL_PORT = 8080;
export const EST_PORT = 443;
export const EST_REALS = ['10.77.0.21', '10.77.0.22', '10.77.0.23', '10.77.0.24'];
export const EST_REAL_PORT = 8443;
/** Sources of the flood and of the many held flows (RFC 2544 benchmarking space). */
export const BENCH_PREFIX = '198.18.0.0/15';

/** What the flow-scale measurements need of an environment (PerPacketEnv has it too). */
export interface FlowEnv {
  dp: TestDataplane;
  macs: Macs;
  rtr: string;
  pub0: number;
  priv0: number;
}

export class FlowScaleEnv implements FlowEnv {
  private links: XdpLink[] = [];

  private constructor(
    readonly lab: Lab,
    readonly dp: TestDataplane,
    readonly macs: Macs,
    readonly rtr: string,
    readonly pub0: number,
    readonly priv0: number,
  ) {}

  static async create(log: pino.Logger, flowEntries: number, objectPath = XLVS_OBJECT): Promise<FlowScaleEnv> {
    const lab = await Lab.create({ reals: 1, log });
    try {
      const rtr = lab.nsPath(lab.ns.router);
      const macs = labMacs(lab);
      const sh = (...argv: string[]): void => void execFileSync(argv[0]!, argv.slice(1));
      for (const r of [...NEW_REALS, ...EST_REALS]) sh('ip', '-n', lab.ns.router, 'neigh', 'replace', r, 'lladdr', macs.rs1, 'dev', 'priv0', 'nud', 'permanent');
      sh('ip', '-n', lab.ns.router, 'neigh', 'replace', CLIENT, 'lladdr', macs.client, 'dev', 'pub0', 'nud', 'permanent');
      // The flood's sources route back through the client (the kernel's reverse-path check,
      // conntrack's peer and xlvs's source validation, bpf/srcval.h, need a route).
      sh('ip', '-n', lab.ns.router, 'route', 'replace', BENCH_PREFIX, 'via', CLIENT, 'dev', 'pub0');
      const id = `${process.pid}-${randomBytes(4).toString('hex')}`;
      const dp = TestDataplane.load(objectPath, `/sys/fs/bpf/xlvs-test-${id}`, flowEntries);
      try {
        await new Reconciler(dp.maps, log).apply(desired([
          service(VIP, NEW_PORT, 'tcp', 'wlc', NEW_REALS.map((address) => ({ address, port: NEW_REAL_PORT }))),
          service(VIP, EST_PORT, 'tcp', 'wlc', EST_REALS.map((address) => ({ address, port: EST_REAL_PORT }))),
        ]));
        return new FlowScaleEnv(lab, dp, macs, rtr, ifindexIn(rtr, 'pub0'), ifindexIn(rtr, 'priv0'));
      } catch (e) {
        dp.close();
        throw e;
      }
    } catch (e) {
      await lab.destroy();
      throw e;
    }
  }

  get lanNs(): string {
    return this.lab.ns.lan;
  }

  readonly lanPort = LAN_ROUTER_PORT;

  /** Attaches xlvs_public / xlvs_private (native XDP links) to pub0 / priv0. */
  attachXlvs(): void {
    if (this.links.length > 0) return;
    this.clearXdp();
    inNetns(this.rtr, () => {
      for (const [prog, ifindex, name] of [['xlvs_public', this.pub0, 'pub'], ['xlvs_private', this.priv0, 'priv']] as const) {
        this.links.push(XdpLink.attach(this.dp.progFd(prog), ifindex, 'native', join(this.dp.pinDir, `link-${name}`)));
      }
    });
  }

  /** Detaches xlvs and puts a pass-through program on pub0/priv0: frames the generator sends
   * (redirected into the veth) are only received by a peer that runs XDP. */
  detachXlvs(): void {
    for (const l of this.links.splice(0)) {
      l.close();
      unpin(l.path);
    }
    for (const dev of ['pub0', 'priv0']) {
      execFileSync('nsenter', [`--net=${this.rtr}`, 'ip', '-force', 'link', 'set', 'dev', dev, 'xdpdrv', 'obj', PASS_OBJECT, 'sec', 'xdp']);
    }
  }

  /** Removes the pass-through programs (before attachXlvs: a link does not replace them). */
  clearXdp(): void {
    for (const dev of ['pub0', 'priv0']) execFileSync('nsenter', [`--net=${this.rtr}`, 'ip', 'link', 'set', 'dev', dev, 'xdpdrv', 'off']);
  }

  /** Runs a command in the router namespace; returns its stdout. */
  inRouter(argv: string[], input?: string): string {
    return execFileSync('nsenter', [`--net=${this.rtr}`, ...argv], { encoding: 'utf8', input });
  }

  async close(log: pino.Logger): Promise<void> {
    for (const step of [() => this.links.splice(0).forEach((l) => { l.close(); unpin(l.path); }), () => this.dp.close()]) {
      try {
        step();
      } catch (e) {
        log.error({ err: e }, 'flow-scale bench: cleanup step failed');
      }
    }
    await this.lab.destroy();
  }
}
