// SPDX-License-Identifier: Apache-2.0
// The data plane without the daemon, for namespace tests of the BPF side while the
// reconciler is being rewritten: loads build/xlvs.bpf.o with its own pin dir, attaches
// xlvs_public / xlvs_private to a lab router's interfaces and writes the maps directly with
// the generated codecs (the test is the control plane, as in Katran's tests). One rr service
// per call of addService; its table is an inner array created here.

import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BpfObject } from '../src/kernel/object.js';
import { ensureBpffs } from '../src/kernel/bpffs.js';
import { check, lib } from '../src/kernel/libbpf.js';
import { libc } from '../src/kernel/libc.js';
import { bpfMapCreateOpts, libbpfOpts } from '../src/kernel/structs.js';
import { u32, u64 } from '../src/kernel/codec.js';
import type { BpfMap, PerCpuMap } from '../src/kernel/map.js';
import { addressBytes, familyOf } from '../src/model/ip.js';
import type { ForwardMethod, Protocol } from '../src/model/types.js';
import { IPPROTO } from '../testing/frame-spec.js';
import {
  XlvsCfg, XlvsCounters, XlvsReal, XlvsSvc, XlvsVip, XlvsVipKey, XLVS_AF_INET, XLVS_AF_INET6, XLVS_MAX_SVC_REALS,
  XLVS_DROP, XLVS_EVENT, XLVS_METHOD_DR, XLVS_METHOD_FULLNAT, XLVS_METHOD_NAT, XLVS_METHOD_TUN, XLVS_REAL_F_USED,
  XLVS_SCHED_RR, type XlvsCounters as Counters,
} from '../src/gen/abi.js';
import { LabError } from './errors.js';
import type { Lab } from './lab.js';
import { fromRoot } from '../src/paths.js';

const REPO_ROOT = fromRoot();
export const XLVS_OBJECT = resolve(REPO_ROOT, 'build/xlvs.bpf.o');
const BPF_MAP_TYPE_ARRAY = 2;
/** The inner-map template in maps.h has it; an inner map's flags must equal the template's. */
const BPF_F_INNER_MAP = 1 << 12;
const PROTO_NUMBER: Record<Protocol, number> = { tcp: IPPROTO.TCP, udp: IPPROTO.UDP };
const SEC = 1_000_000_000n;

export type Method = ForwardMethod;
const METHOD_CODE: Record<Method, number> = { nat: XLVS_METHOD_NAT, dr: XLVS_METHOD_DR, tun: XLVS_METHOD_TUN, fullnat: XLVS_METHOD_FULLNAT };

/** An address in ABI form: 16 bytes, IPv4 in the first 4. */
function abiAddr(text: string): Buffer {
  if (familyOf(text) === null) throw new LabError(`not an IP address: ${JSON.stringify(text)}`);
  return addressBytes(text);
}

const abiFamily = (text: string): number => (familyOf(text) === 6 ? XLVS_AF_INET6 : XLVS_AF_INET);

export interface FixtureService {
  vip: string;
  port: number;
  protocol?: Protocol;
  reals: Array<{ address: string; port?: number; method: Method }>;
}

export interface FixtureIds {
  svc: number;
  reals: number[];
}

export class DataplaneFixture {
  private nextSvc = 0;
  private nextReal = 0;
  private readonly vipAddrs = new Set<string>();
  private readonly m: {
    cfg: BpfMap<number, XlvsCfg>;
    svcs: BpfMap<number, XlvsSvc>;
    svcRr: BpfMap<number, number>;
    svcReals: BpfMap<number, number>;
    svcTables: BpfMap<number, number>;
    reals: BpfMap<number, XlvsReal>;
    vips: BpfMap<XlvsVipKey, XlvsVip>;
    realStats: PerCpuMap<number, Counters>;
    drops: PerCpuMap<number, bigint>;
    events: PerCpuMap<number, bigint>;
  };

  private constructor(
    private readonly lab: Lab,
    readonly pinDir: string,
    private readonly obj: BpfObject,
  ) {
    this.m = {
      cfg: obj.map('cfg', u32, XlvsCfg),
      svcs: obj.map('svcs', u32, XlvsSvc),
      svcRr: obj.map('svc_rr', u32, u32),
      svcReals: obj.map('svc_reals', u32, u32),
      svcTables: obj.map('svc_tables', u32, u32),
      reals: obj.map('reals', u32, XlvsReal),
      vips: obj.map('vips', XlvsVipKey, XlvsVip),
      realStats: obj.percpuMap('real_stats', u32, XlvsCounters),
      drops: obj.percpuMap('drops', u32, u64),
      events: obj.percpuMap('events', u32, u64),
    };
  }

  /** Loads the object, pins its programs and attaches them (native XDP) to pub0 / priv0. */
  static async attach(lab: Lab, local: { v4?: string; v6?: string } = {}): Promise<DataplaneFixture> {
    const pinDir = `/sys/fs/bpf/${lab.prefix}dp`;
    ensureBpffs(join(pinDir, 'maps'));
    const obj = BpfObject.open(XLVS_OBJECT, { pinRoot: join(pinDir, 'maps') });
    try {
      obj.load();
      const f = new DataplaneFixture(lab, pinDir, obj);
      f.m.cfg.update(0, {
        timeout_tcp_ns: 900n * SEC, timeout_tcp_fin_ns: 120n * SEC, timeout_tcp_close_ns: 10n * SEC, timeout_udp_ns: 300n * SEC,
        lblc_expire_ns: 0n, lblcr_shrink_ns: 0n,
        local4: local.v4 ? abiAddr(local.v4) : Buffer.alloc(16),
        local6: local.v6 ? abiAddr(local.v6) : Buffer.alloc(16),
        has_local: (local.v4 ? 1 : 0) | (local.v6 ? 2 : 0),
      });
      for (const [prog, dev] of [['xlvs_public', lab.ifaces.public], ['xlvs_private', lab.ifaces.private]] as const) {
        const path = join(pinDir, prog);
        obj.pinProgram(prog, path);
        await lab.exec(lab.ns.router, ['ip', 'link', 'set', 'dev', dev, 'xdpdrv', 'pinned', path]);
      }
      return f;
    } catch (err) {
      obj.close();
      rmSync(pinDir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Writes a complete rr service (reals, table, then the vips entries that make it reachable). */
  addService(s: FixtureService): FixtureIds {
    const family = abiFamily(s.vip);
    const proto = PROTO_NUMBER[s.protocol ?? 'tcp'];
    const svc = this.nextSvc++;
    const ids = s.reals.map(() => this.nextReal++);
    s.reals.forEach((r, i) => {
      if (abiFamily(r.address) !== family) throw new LabError(`real ${r.address} is not of the VIP's family (${s.vip})`);
      this.m.reals.update(ids[i]!, {
        addr: abiAddr(r.address), port: r.port ?? 0, method: METHOD_CODE[r.method], flags: XLVS_REAL_F_USED, family,
        svc_id: svc, weight: 1, u_threshold: 0, l_threshold: 0,
      });
      this.m.svcReals.update(svc * XLVS_MAX_SVC_REALS + i, ids[i]!);
    });
    const opts = libbpfOpts(bpfMapCreateOpts, { map_flags: BPF_F_INNER_MAP });
    const fd = check('bpf_map_create svc table', lib.map_create(BPF_MAP_TYPE_ARRAY, `xt_svc${svc}`, 4, 4, ids.length, opts) as number);
    try {
      const key = Buffer.alloc(4);
      const val = Buffer.alloc(4);
      ids.forEach((id, slot) => {
        key.writeUInt32LE(slot);
        val.writeUInt32LE(id);
        check('svc table update', lib.map_update_elem(fd, key, val, 0) as number);
      });
      this.m.svcTables.update(svc, fd);
    } finally {
      libc.close(fd); // the outer map holds its own reference
    }
    this.m.svcRr.update(svc, 0);
    this.m.svcs.update(svc, { sched: XLVS_SCHED_RR, flags: 0, n_reals: ids.length, table_len: ids.length, persist_ns: 0n, hash_seed: 0, persist_plen: 0, family });
    this.m.vips.update({ addr: abiAddr(s.vip), port: s.port, proto, family }, { svc_id: svc, flags: 0 });
    if (!this.vipAddrs.has(s.vip)) {
      this.m.vips.update({ addr: abiAddr(s.vip), port: 0, proto: 0, family }, { svc_id: 0, flags: 0 });
      this.vipAddrs.add(s.vip);
    }
    return { svc, reals: ids };
  }

  /** A real's counters summed over CPUs. */
  realCounters(id: number): Counters {
    const per = this.m.realStats.lookup(id) ?? [];
    const sum: Counters = { packets_in: 0n, bytes_in: 0n, packets_out: 0n, bytes_out: 0n, conns: 0n };
    for (const c of per) for (const k of Object.keys(sum) as Array<keyof Counters>) sum[k] += c[k];
    return sum;
  }

  /** Drops by reason (enum xlvs_drop index) summed over CPUs. */
  drops(reason: number): bigint {
    return (this.m.drops.lookup(reason) ?? []).reduce((a, b) => a + b, 0n);
  }

  /** An event's count (enum xlvs_event index) summed over CPUs. */
  events(event: number): bigint {
    return (this.m.events.lookup(event) ?? []).reduce((a, b) => a + b, 0n);
  }

  /** Every non-zero drop and event counter by name, for failure messages. */
  outcomes(): Record<string, string> {
    const out: Record<string, string> = {};
    const add = (m: PerCpuMap<number, bigint>, names: Record<string, number>): void => {
      for (const [name, i] of Object.entries(names)) {
        const n = (m.lookup(i) ?? []).reduce((a, b) => a + b, 0n);
        if (n > 0n) out[name] = String(n);
      }
    };
    add(this.m.drops, XLVS_DROP);
    add(this.m.events, XLVS_EVENT);
    return out;
  }

  /** Detaches both programs, closes the object and removes every pin. */
  async destroy(): Promise<void> {
    const problems: unknown[] = [];
    for (const dev of [this.lab.ifaces.public, this.lab.ifaces.private]) {
      await this.lab.exec(this.lab.ns.router, ['ip', 'link', 'set', 'dev', dev, 'xdpdrv', 'off']).catch((e: unknown) => problems.push(e));
    }
    this.obj.close();
    rmSync(this.pinDir, { recursive: true, force: true });
    if (problems.length > 0) throw new LabError(`detaching the fixture's XDP programs failed: ${problems.map(String).join('; ')}`);
  }
}
