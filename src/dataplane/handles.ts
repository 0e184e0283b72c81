// SPDX-License-Identifier: Apache-2.0
// The loaded data plane: object, pinned programs, XDP links and typed maps.
// Pin layout under the pin dir (default /sys/fs/bpf/xlvs):
//   maps/<name>        every map (pinned by libbpf, reused on restart)
//   progs/xlvs_public  progs/xlvs_private
//   links/public       links/private   (XDP links on the two interfaces)

import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type pino from 'pino';
import { BpfObject } from '../bpf/object.js';
import { ensureBpffs, unpin, pinExists } from '../bpf/bpffs.js';
import { XdpLink, ifindexOf, type XdpMode } from '../bpf/link.js';
import type { BpfMap, PerCpuMap } from '../bpf/map.js';
import { u32, u64 } from '../bpf/codec.js';
import * as abi from '../gen/abi.js';

export const DEFAULT_PIN_DIR = '/sys/fs/bpf/xlvs';

export interface Maps {
  vips: BpfMap<abi.XlvsVipKey, abi.XlvsVip>;
  svcs: BpfMap<number, abi.XlvsSvc>;
  svcRr: BpfMap<number, number>;
  ring: BpfMap<number, number>;
  reals: BpfMap<number, abi.XlvsReal>;
  flows: BpfMap<abi.XlvsFlowKey, abi.XlvsFlow>;
  svcStats: PerCpuMap<number, abi.XlvsCounters>;
  realStats: PerCpuMap<number, abi.XlvsCounters>;
  drops: PerCpuMap<number, bigint>;
  cfg: BpfMap<number, abi.XlvsCfg>;
}

export interface Interfaces {
  public: string;
  private: string;
  mode: XdpMode;
}

const ROLES = [
  { role: 'public', prog: 'xlvs_public' },
  { role: 'private', prog: 'xlvs_private' },
] as const;

export class Dataplane {
  private constructor(
    readonly pinDir: string,
    private readonly obj: BpfObject,
    readonly maps: Maps,
    /** true when pinned maps from an earlier run were adopted */
    readonly adopted: boolean,
  ) {}

  /** Loads the object (adopting pinned maps when present), pins its programs
   * and attaches them, swapping into existing links without a gap. */
  static load(objectPath: string, pinDir: string, ifaces: Interfaces, log: pino.Logger): Dataplane {
    ensureBpffs(pinDir);
    for (const d of ['maps', 'progs', 'links']) mkdirSync(join(pinDir, d), { recursive: true });
    const adopted = pinExists(join(pinDir, 'maps', 'flows'));
    const obj = BpfObject.open(objectPath, { pinRoot: join(pinDir, 'maps') });
    try {
      obj.verifyAbi(abi.ABI_LAYOUT);
      obj.load();
      const maps: Maps = {
        vips: obj.map('vips', abi.XlvsVipKey, abi.XlvsVip),
        svcs: obj.map('svcs', u32, abi.XlvsSvc),
        svcRr: obj.map('svc_rr', u32, u32),
        ring: obj.map('ring', u32, u32),
        reals: obj.map('reals', u32, abi.XlvsReal),
        flows: obj.map('flows', abi.XlvsFlowKey, abi.XlvsFlow),
        svcStats: obj.percpuMap('svc_stats', u32, abi.XlvsCounters),
        realStats: obj.percpuMap('real_stats', u32, abi.XlvsCounters),
        drops: obj.percpuMap('drops', u32, u64),
        cfg: obj.map('cfg', u32, abi.XlvsCfg),
      };
      for (const { role, prog } of ROLES) {
        obj.pinProgram(prog, join(pinDir, 'progs', prog));
        attachRole(obj.programFd(prog), ifaces[role], ifaces.mode, join(pinDir, 'links', role), log);
      }
      log.info({ pinDir, adopted, public: ifaces.public, private: ifaces.private, mode: ifaces.mode }, 'data plane loaded');
      return new Dataplane(pinDir, obj, maps, adopted);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  /** Drops our handles; pinned programs, links and maps keep forwarding. */
  close(): void {
    this.obj.close();
  }

  /** Detaches the programs and removes every pin: the data plane is gone. */
  static teardown(pinDir: string, log: pino.Logger): void {
    for (const { role } of ROLES) XdpLink.open(join(pinDir, 'links', role))?.destroy();
    unpin(pinDir);
    log.info({ pinDir }, 'data plane torn down');
  }
}

/** Puts prog on ifname through the pinned link at path: updates the link in
 * place when it already sits on that interface, else makes a new one. */
function attachRole(progFd: number, ifname: string, mode: XdpMode, path: string, log: pino.Logger): void {
  const ifindex = ifindexOf(ifname);
  const old = XdpLink.open(path);
  if (old) {
    const info = old.info();
    if (info.ifindex === ifindex) {
      old.update(progFd);
      old.close();
      log.debug({ ifname, link: info.id }, 'xdp link updated in place');
      return;
    }
    log.info({ ifname, oldIfindex: info.ifindex }, 'interface changed: replacing xdp link');
    old.destroy();
  }
  XdpLink.attach(progFd, ifindex, mode, path).close();
}
