// SPDX-License-Identifier: Apache-2.0
// What the per-packet benchmark runs against: a lab (its router namespace gives the programs
// real ingress interfaces and a FIB), the real xlvs object loaded with a temporary pin dir and
// configured through the Reconciler with one service per measured scheduler, and the floor
// program (bench/bpf/bench_floor.bpf.c) and the bare XDP forwarder (bench/bpf/bench_fwd.bpf.c, parse + FIB +
// redirect: the floor of any router that routes in XDP). Everything is removed by close(), also
// after a failure.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type pino from 'pino';
import { Lab } from '../../lab/lab.js';
import { BpfObject } from '../../src/kernel/object.js';
import { ensureBpffs, unpin } from '../../src/kernel/bpffs.js';
import { ifindexIn } from '../../src/kernel/test-run.js';
import { TestDataplane } from '../../testing/fixture.js';
import { Reconciler } from '../../src/dataplane/reconcile.js';
import { desired, service } from '../../testing/desired.js';
import type { SchedulerName } from '../../src/model/types.js';
import { labMacs, type Macs } from '../common/lab-macs.js';
import { fromRoot } from '../../src/paths.js';

const ROOT = fromRoot();

export const VIP = '203.0.113.100';
export const CLIENT = '203.0.113.2';
/** Four reals on the lab's private LAN; each gets a permanent neighbour entry (rs1's MAC). */
export const REALS = ['10.77.0.11', '10.77.0.12', '10.77.0.13', '10.77.0.14'];
/** One TCP service per measured scheduler, each on its own VIP port. */
export const SCHED_PORTS: ReadonlyArray<{ scheduler: SchedulerName; port: number }> = [
  { scheduler: 'rr', port: 80 },
  { scheduler: 'wlc', port: 81 },
  { scheduler: 'mh', port: 82 },
];
export const REAL_PORT = 8080;

export class PerPacketEnv {
  private constructor(
    readonly lab: Lab,
    readonly dp: TestDataplane,
    private readonly floorObj: BpfObject,
    private readonly fwdObj: BpfObject,
    private readonly floorPin: string,
    readonly macs: Macs,
    /** The router namespace's path: every test run happens in it (see inNetns). */
    readonly rtr: string,
    readonly pub0: number,
    readonly priv0: number,
    /** Prefix for this run's pin dirs (`<pinBase>-<what>`), removed by their owners. */
    readonly pinBase: string,
  ) {}

  static async create(log: pino.Logger): Promise<PerPacketEnv> {
    const lab = await Lab.create({ reals: 1, log });
    const undo: Array<() => void> = [];
    try {
      const rtr = lab.nsPath(lab.ns.router);
      const macs = labMacs(lab);
      // Resolved neighbours: bpf_fib_lookup then answers SUCCESS with MACs, as in steady state,
      // rather than NO_NEIGH (which would hand the packet to the kernel and measure another path).
      for (const r of REALS) execFileSync('ip', ['-n', lab.ns.router, 'neigh', 'replace', r, 'lladdr', macs.rs1, 'dev', 'priv0', 'nud', 'permanent']);
      execFileSync('ip', ['-n', lab.ns.router, 'neigh', 'replace', CLIENT, 'lladdr', macs.client, 'dev', 'pub0', 'nud', 'permanent']);

      const id = `${process.pid}-${randomBytes(4).toString('hex')}`;
      const pinBase = `/sys/fs/bpf/xlvs-test-${id}`;
      const dp = TestDataplane.load(join(ROOT, 'build/xlvs.bpf.o'), pinBase);
      undo.push(() => dp.close());
      const reals = REALS.map((address) => ({ address, port: REAL_PORT }));
      await new Reconciler(dp.maps, log).apply(desired(SCHED_PORTS.map(({ scheduler, port }) => service(VIP, port, 'tcp', scheduler, reals))));

      const floorPin = `${pinBase}-floor`;
      ensureBpffs(floorPin);
      undo.push(() => unpin(floorPin));
      const floorObj = BpfObject.open(join(ROOT, 'build/bench_floor.bpf.o'), { pinRoot: floorPin });
      undo.push(() => floorObj.close());
      floorObj.load();
      const fwdObj = BpfObject.open(join(ROOT, 'build/bench_fwd.bpf.o'), { pinRoot: floorPin });
      undo.push(() => fwdObj.close());
      fwdObj.load();
      return new PerPacketEnv(lab, dp, floorObj, fwdObj, floorPin, macs, rtr, ifindexIn(rtr, 'pub0'), ifindexIn(rtr, 'priv0'), pinBase);
    } catch (e) {
      for (const u of undo.reverse()) {
        try {
          u();
        } catch (cleanupErr) {
          log.error({ err: cleanupErr }, 'per-packet bench: cleanup after a failed setup failed');
        }
      }
      await lab.destroy();
      throw e;
    }
  }

  get floorFd(): number {
    return this.floorObj.programFd('xlvs_bench_floor');
  }

  get fwdFd(): number {
    return this.fwdObj.programFd('xlvs_bench_fwd');
  }

  /** Removes every flow entry, so the next SYNs are new flows again. Returns how many. */
  clearFlows(): number {
    const keys = [...this.dp.maps.flows.entries()].map(([k]) => k);
    for (const k of keys) this.dp.maps.flows.delete(k);
    return keys.length;
  }

  async close(log: pino.Logger): Promise<void> {
    for (const step of [() => this.dp.close(), () => this.floorObj.close(), () => this.fwdObj.close(), () => unpin(this.floorPin)]) {
      try {
        step();
      } catch (e) {
        log.error({ err: e }, 'per-packet bench: cleanup step failed');
      }
    }
    await this.lab.destroy();
  }
}
