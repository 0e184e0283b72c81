// SPDX-License-Identifier: Apache-2.0
// The loaded data plane: object, pinned programs, XDP links and typed maps.
// Dataplane.load also writes if_macs, the two interfaces' MACs (if-macs.ts).
// Pin layout under the pin dir (default /sys/fs/bpf/xlvs):
//   maps/<name>        every map (pinned by libbpf, reused on restart)
//   progs/xlvs_public  progs/xlvs_private
//   links/public       links/private   (XDP links on the two interfaces)

import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type pino from 'pino';
import { BpfObject, type PinnedMapMismatch } from '../kernel/object.js';
import { ensureBpffs, unpin, pinExists } from '../kernel/bpffs.js';
import { pinnedMapInfo } from '../kernel/map-info.js';
import { FlowTableSizeError, PinnedMapsIncompatibleError } from '../errors.js';
import { XdpLink, ifindexOf, type XdpMode } from '../kernel/link.js';
import type { BpfMap, PerCpuMap } from '../kernel/map.js';
import { u32, u64 } from '../kernel/codec.js';
import * as abi from '../gen/abi.js';
import { readIfMacs, writeIfMacs } from './if-macs.js';

export const DEFAULT_PIN_DIR = '/sys/fs/bpf/xlvs';

export interface Maps {
  vips: BpfMap<abi.XlvsVipKey, abi.XlvsVip>;
  svcs: BpfMap<number, abi.XlvsSvc>;
  svcRr: BpfMap<number, number>;
  svcReals: BpfMap<number, number>;
  /** Outer map: write an inner map's fd, read back its id. */
  svcTables: BpfMap<number, number>;
  reals: BpfMap<number, abi.XlvsReal>;
  realConns: BpfMap<number, abi.XlvsRealConns>;
  flows: BpfMap<abi.XlvsFlowKey, abi.XlvsFlow>;
  persist: BpfMap<abi.XlvsPersistKey, abi.XlvsPersist>;
  dests: BpfMap<abi.XlvsDestKey, abi.XlvsDest>;
  svcStats: PerCpuMap<number, abi.XlvsCounters>;
  realStats: PerCpuMap<number, abi.XlvsCounters>;
  drops: PerCpuMap<number, bigint>;
  events: PerCpuMap<number, bigint>;
  cfg: BpfMap<number, abi.XlvsCfg>;
  /** Health probe slots and the next batch to send (bpf/probe.h); the daemon mmaps both. */
  probes: BpfMap<number, abi.XlvsProbe>;
  probeBatch: BpfMap<number, abi.XlvsProbeBatch>;
  /** Source validation (bpf/srcval.h): the mode, and the allow/deny prefixes (an LPM trie). */
  srcval: BpfMap<number, abi.XlvsSrcval>;
  srcvalPrefixes: BpfMap<abi.XlvsSrcvalKey, abi.XlvsSrcvalPrefix>;
  /** Active/backup HA (bpf/ha.h): the lease and flags (one entry, src/ha/lease.ts), the floating
   * addresses ARP/ND is gated for, and the per-CPU sync counters (enum xlvs_ha_stat). */
  ha: BpfMap<number, abi.XlvsHa>;
  haFloating: BpfMap<abi.XlvsHaAddr, number>;
  haStats: PerCpuMap<number, bigint>;
  /** enum xlvs_if_role -> the program's interface and its MAC (bpf/l2.h, if-macs.ts): unicast
   * frames for another MAC go to the kernel. */
  ifMacs: BpfMap<number, abi.XlvsIfMac>;
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
    /** xlvs_reap: run (BPF_PROG_TEST_RUN) to delete dead flows in the kernel */
    readonly reapFd: number,
    /** xlvs_private, which also builds health probes' SYNs when test-run on a frame from the
     * loopback device (bpf/probe.h) */
    readonly probeTxFd: number,
    /** nh_misses: the next hops the programs found unresolved (nexthop-misses.ts) */
    readonly nhMissesFd: number,
    /** sync_ring: the flows' sync records (struct xlvs_sync_rec) while ha.flags has XLVS_HA_F_SYNC */
    readonly syncRingFd: number,
  ) {}

  /** Loads the object (adopting pinned maps when present), pins its programs
   * and attaches them, swapping into existing links without a gap. */
  static load(objectPath: string, pinDir: string, ifaces: Interfaces, flowEntries: number, log: pino.Logger): Dataplane {
    ensureBpffs(pinDir);
    for (const d of ['maps', 'progs', 'links']) mkdirSync(join(pinDir, d), { recursive: true });
    const flowsPin = join(pinDir, 'maps', 'flows');
    const adopted = pinExists(flowsPin);
    // The pinned connection table keeps its size: say so, rather than libbpf's "can't reuse".
    if (adopted) {
      const pinned = pinnedMapInfo(flowsPin).maxEntries;
      if (pinned !== flowEntries) throw new FlowTableSizeError(pinned, flowEntries);
    }
    const obj = BpfObject.open(objectPath, { pinRoot: join(pinDir, 'maps') });
    try {
      obj.verifyAbi(abi.ABI_LAYOUT);
      obj.setMaxEntries('flows', flowEntries);
      refuseMismatched(obj, pinDir);
      obj.load();
      const maps = openMaps(obj);
      // Before the programs act on the interfaces: from their first frame, one for another host's MAC is not ours.
      writeIfMacs(maps.ifMacs, readIfMacs(ifaces), log);
      for (const { role, prog } of ROLES) {
        obj.pinProgram(prog, join(pinDir, 'progs', prog));
        attachRole(obj.programFd(prog), ifaces[role], ifaces.mode, join(pinDir, 'links', role), log);
      }
      log.info({ pinDir, adopted, public: ifaces.public, private: ifaces.private, mode: ifaces.mode }, 'data plane loaded');
      return new Dataplane(pinDir, obj, maps, adopted, obj.programFd('xlvs_reap'), obj.programFd('xlvs_private'), obj.mapFd('nh_misses'),
        obj.mapFd('sync_ring'));
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  /**
   * Why the data plane is not forwarding on both interfaces (a link pin gone, or its XDP link
   * detached, e.g. by `bpftool link detach`), or undefined when it is: HA's fault check, each
   * interval (a few syscalls).
   */
  notAttached(): string | undefined {
    for (const { role } of ROLES) {
      const link = XdpLink.open(join(this.pinDir, 'links', role));
      if (!link) return `the ${role} XDP link is not pinned`;
      try {
        if (link.info().ifindex === 0) return `the ${role} XDP link is detached`;
      } finally {
        link.close();
      }
    }
    return undefined;
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

/** Typed handles on every map of a loaded xlvs object. */
export function openMaps(obj: BpfObject): Maps {
  return {
    vips: obj.map('vips', abi.XlvsVipKey, abi.XlvsVip),
    svcs: obj.map('svcs', u32, abi.XlvsSvc),
    svcRr: obj.map('svc_rr', u32, u32),
    svcReals: obj.map('svc_reals', u32, u32),
    svcTables: obj.map('svc_tables', u32, u32),
    reals: obj.map('reals', u32, abi.XlvsReal),
    realConns: obj.map('real_conns', u32, abi.XlvsRealConns),
    flows: obj.map('flows', abi.XlvsFlowKey, abi.XlvsFlow),
    persist: obj.map('persist', abi.XlvsPersistKey, abi.XlvsPersist),
    dests: obj.map('dests', abi.XlvsDestKey, abi.XlvsDest),
    svcStats: obj.percpuMap('svc_stats', u32, abi.XlvsCounters),
    realStats: obj.percpuMap('real_stats', u32, abi.XlvsCounters),
    drops: obj.percpuMap('drops', u32, u64),
    events: obj.percpuMap('events', u32, u64),
    cfg: obj.map('cfg', u32, abi.XlvsCfg),
    probes: obj.map('probes', u32, abi.XlvsProbe),
    probeBatch: obj.map('probe_batch', u32, abi.XlvsProbeBatch),
    srcval: obj.map('srcval', u32, abi.XlvsSrcval),
    srcvalPrefixes: obj.map('srcval_prefixes', abi.XlvsSrcvalKey, abi.XlvsSrcvalPrefix),
    ha: obj.map('ha', u32, abi.XlvsHa),
    haFloating: obj.map('ha_floating', abi.XlvsHaAddr, u32),
    haStats: obj.percpuMap('ha_stats', u32, u64),
    ifMacs: obj.map('if_macs', u32, abi.XlvsIfMac),
  };
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

/**
 * Maps pinned by another version that libbpf would refuse (it names only the first, as "can't
 * reuse"): all of them and what differs, before anything is loaded or attached.
 */
function refuseMismatched(obj: BpfObject, pinDir: string): void {
  const mismatched = obj.pinnedMismatches();
  if (mismatched.length > 0) throw new PinnedMapsIncompatibleError(pinDir, mismatched.map(describeMismatch));
}

/** What Dataplane.load would refuse of the maps pinned under pinDir, found without loading (xlvsd --check). */
export function checkPinnedMaps(objectPath: string, pinDir: string, flowEntries: number): void {
  if (!pinExists(join(pinDir, 'maps'))) return;
  const obj = BpfObject.open(objectPath, { pinRoot: join(pinDir, 'maps') });
  try {
    obj.setMaxEntries('flows', flowEntries);
    refuseMismatched(obj, pinDir);
  } finally {
    obj.close();
  }
}

const FIELD_TEXT = { type: 'type', keySize: 'key bytes', valueSize: 'value bytes', maxEntries: 'entries' } as const;

/** "pinned 12 entries, this version 64 entries" for each field that differs. */
function describeMismatch(m: PinnedMapMismatch): { name: string; what: string } {
  return { name: m.name, what: m.fields.map((f) => `pinned ${m.pinned[f]} ${FIELD_TEXT[f]}, this version ${m.wanted[f]}`).join('; ') };
}
