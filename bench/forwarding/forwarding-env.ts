// SPDX-License-Identifier: Apache-2.0
// What the forwarding benchmark runs in: a lab (client | router | LAN), the generator (the XDP
// packet loop of bench/traffic/loop-gen.ts, in the client namespace) sending out of the client's eth0
// into the router's pub0, the count-and-drop
// sink (bench/traffic/live-sink.ts) on the LAN end of priv0 (right after the router), a second sink for
// the baseline (on pub0 itself), the real xlvs object configured by the daemon's Reconciler, and
// the bare XDP forwarder (bench/bpf/bench_fwd.bpf.c). The peers (forwarding-peers.ts) switch the
// router between them. close() removes everything, also after a failure.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type pino from 'pino';
import { Lab } from '../../lab/lab.js';
import { LAN_ROUTER_PORT } from '../../lab/topology.js';
import { linkMac } from '../common/lab-macs.js';
import { BpfObject } from '../../src/kernel/object.js';
import { XdpLink } from '../../src/kernel/link.js';
import { ensureBpffs, unpin } from '../../src/kernel/bpffs.js';
import { ifindexIn, inNetns } from '../../src/kernel/test-run.js';
import { TestDataplane } from '../../testing/fixture.js';
import { Reconciler } from '../../src/dataplane/reconcile.js';
import { desired, service } from '../../testing/desired.js';
import { LoopGen } from '../traffic/loop-gen.js';
import { LiveSink } from '../traffic/live-sink.js';
import { fromRoot } from '../../src/paths.js';

const ROOT = fromRoot();
export const FWD_OBJECT = join(ROOT, 'build/bench_fwd.bpf.o');

export const VIP = '203.0.113.100';
export const CLIENT = '203.0.113.2';
export const UDP_PORT = 5353;
/** The four reals of the xlvs and nftables services, on the lab's private LAN. */
export const REALS = ['10.77.0.11', '10.77.0.12', '10.77.0.13', '10.77.0.14'];

export class ForwardingEnv {
  private xlvsLinks: XdpLink[] = [];

  private constructor(
    readonly lab: Lab,
    readonly gen: LoopGen,
    /** On the LAN end of priv0: counts what the router delivered. */
    readonly sink: LiveSink,
    /** For the baseline: on pub0, counts what the generator delivered to the router. */
    readonly pubSink: LiveSink,
    readonly dp: TestDataplane,
    private readonly fwdObj: BpfObject,
    readonly pinDir: string,
    readonly macs: { client: string; pub0: string },
    readonly rtrPath: string,
    readonly ifindex: { pub0: number; priv0: number },
    private readonly log: pino.Logger,
  ) {}

  static async create(log: pino.Logger): Promise<ForwardingEnv> {
    const lab = await Lab.create({ reals: 1, log });
    const undo: Array<() => unknown> = [];
    try {
      const rtr = lab.ns.router;
      const macs = { client: linkMac(lab.ns.client, 'eth0'), pub0: linkMac(rtr, 'pub0') };
      // Permanent neighbours: every peer's route lookup finds the MAC at once (no ARP during a
      // run, no NO_NEIGH hand-over to the kernel). The sink drops every frame before the
      // bridge, so which MAC it is does not matter; rs1's is a real one.
      const rs1 = linkMac(lab.ns.reals[0]!, 'eth0');
      for (const r of REALS) await lab.exec(rtr, ['ip', 'neigh', 'replace', r, 'lladdr', rs1, 'dev', 'priv0', 'nud', 'permanent']);
      await lab.exec(rtr, ['ip', 'neigh', 'replace', CLIENT, 'lladdr', macs.client, 'dev', 'pub0', 'nud', 'permanent']);

      const gen = await LoopGen.create({ ns: lab.ns.client, target: 'eth0' });
      undo.push(() => gen.close());
      const sink = LiveSink.load({ perDst: true });
      undo.push(() => sink.close());
      await sink.attach(lab.ns.lan, LAN_ROUTER_PORT);
      const pubSink = LiveSink.load({ perDst: true });
      undo.push(() => pubSink.close());

      const id = `${process.pid}-${randomBytes(4).toString('hex')}`;
      const pinDir = `/sys/fs/bpf/xlvs-test-${id}`;
      const dp = TestDataplane.load(join(ROOT, 'build/xlvs.bpf.o'), pinDir);
      undo.push(() => dp.close());
      await new Reconciler(dp.maps, log).apply(desired([service(VIP, UDP_PORT, 'udp', 'rr', REALS.map((address) => ({ address, port: UDP_PORT })))]));

      const fwdPin = `${pinDir}-fwd`;
      ensureBpffs(fwdPin);
      undo.push(() => unpin(fwdPin));
      const fwdObj = BpfObject.open(FWD_OBJECT, { pinRoot: fwdPin });
      undo.push(() => fwdObj.close());
      fwdObj.load();
      fwdObj.pinProgram('xlvs_bench_fwd', join(fwdPin, 'prog'));

      const rtrPath = lab.nsPath(rtr);
      return new ForwardingEnv(lab, gen, sink, pubSink, dp, fwdObj, fwdPin, macs, rtrPath,
        { pub0: ifindexIn(rtrPath, 'pub0'), priv0: ifindexIn(rtrPath, 'priv0') }, log);
    } catch (e) {
      for (const u of undo.reverse()) {
        try {
          await u();
        } catch (cleanupErr) {
          log.error({ err: cleanupErr }, 'forwarding bench: cleanup after a failed setup failed');
        }
      }
      await lab.destroy();
      throw e;
    }
  }

  /** Where the bare forwarder's program is pinned (ip link set ... xdpdrv pinned). */
  get fwdProgPath(): string {
    return join(this.pinDir, 'prog');
  }

  get fwdProgFd(): number {
    return this.fwdObj.programFd('xlvs_bench_fwd');
  }

  /** Runs a command in the router namespace. */
  async router(cmd: string[]): Promise<string> {
    return (await this.lab.exec(this.lab.ns.router, cmd)).stdout;
  }

  /** Attaches xlvs_public to pub0 and xlvs_private to priv0 as the daemon does: native XDP through bpf_link. */
  attachXlvs(): void {
    if (this.xlvsLinks.length > 0) return;
    this.xlvsLinks = inNetns(this.rtrPath, () => [
      XdpLink.attach(this.dp.progFd('xlvs_public'), this.ifindex.pub0, 'native', join(this.dp.pinDir, 'link-pub0')),
      XdpLink.attach(this.dp.progFd('xlvs_private'), this.ifindex.priv0, 'native', join(this.dp.pinDir, 'link-priv0')),
    ]);
  }

  detachXlvs(): void {
    const links = this.xlvsLinks;
    this.xlvsLinks = [];
    for (const l of links) l.destroy();
  }

  /** xlvs flow entries in the map now (two per connection: forward and reply). */
  countFlows(): number {
    let n = 0;
    for (const _ of this.dp.maps.flows.entries()) n++;
    return n;
  }

  /** Deletes every xlvs flow entry (between rounds, as conntrack -F for nftables). Returns how many. */
  clearFlows(): number {
    const keys = [...this.dp.maps.flows.entries()].map(([k]) => k);
    for (const k of keys) this.dp.maps.flows.delete(k);
    return keys.length;
  }

  async close(): Promise<void> {
    const steps: Array<() => unknown> = [
      () => this.detachXlvs(), () => this.sink.close(), () => this.pubSink.close(), () => this.gen.close(), () => this.dp.close(),
      () => this.fwdObj.close(), () => unpin(this.pinDir),
    ];
    for (const step of steps) {
      try {
        await step();
      } catch (e) {
        this.log.error({ err: e }, 'forwarding bench: cleanup step failed');
      }
    }
    await this.lab.destroy();
  }
}
