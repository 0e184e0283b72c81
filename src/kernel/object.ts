// SPDX-License-Identifier: Apache-2.0
// A BPF object file opened and loaded through libbpf. Maps declared with
// LIBBPF_PIN_BY_NAME are reused from pinRoot when pinned there already (that
// is how a restarted daemon adopts the live flows and counters), else created
// and pinned. A failed load carries the tail of the verifier log.

import koffi from 'koffi';
import { lib, check, checkPtr, type Ptr, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH } from './libbpf.js';
import { AbiMismatchError, AlreadyLoadedError, BpfError, NotLoadedError, VerifierError } from '../errors.js';
import { verifyLayout, type Layout } from './btf-check.js';
import { BpfMap, PerCpuMap } from './map.js';
import type { Codec } from './codec.js';
import { pinExists, unpin } from './bpffs.js';
import { existsSync } from 'node:fs';
import { pinnedMapInfo, type MapInfo } from './map-info.js';
import { bpfObjectOpenOpts, libbpfOpts } from './structs.js';

const LOG_SIZE = 4 << 20;
const LOG_TAIL = 4000;

export interface OpenOptions {
  /** Directory where pinned-by-name maps live (and are looked for). */
  pinRoot: string;
}

/** A map pinned already that the object declares otherwise (BpfObject.pinnedMismatches). */
export interface PinnedMapMismatch {
  name: string;
  path: string;
  pinned: MapInfo;
  wanted: MapInfo;
  fields: ReadonlyArray<keyof MapInfo>;
}

const PERCPU_TYPES = new Set([BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH]);

export class BpfObject {
  private loaded = false;
  // Strings and the log buffer must stay referenced while libbpf holds pointers to them.
  private readonly keep: Buffer[];

  private constructor(
    readonly path: string,
    private readonly obj: Ptr,
    keep: Buffer[],
    private readonly log: Buffer,
  ) {
    this.keep = keep;
  }

  static open(path: string, opts: OpenOptions): BpfObject {
    const pinRoot = Buffer.from(opts.pinRoot + '\0');
    const log = Buffer.alloc(LOG_SIZE);
    const o = libbpfOpts(bpfObjectOpenOpts, {
      pin_root_path: addr(pinRoot),
      kernel_log_buf: addr(log),
      kernel_log_size: LOG_SIZE,
      kernel_log_level: 1, // the verifier's log on failure
    });
    const obj = checkPtr('bpf_object__open_file', lib.object_open_file(path, o) as Ptr | null, path);
    return new BpfObject(path, obj, [pinRoot, o], log);
  }

  /** Checks the generated codecs against this object's BTF; call before load(). */
  verifyAbi(layout: Layout): void {
    const btf = lib.object_btf(this.obj) as Ptr | null;
    if (!btf) throw new AbiMismatchError(`${this.path} has no BTF (build with -g)`);
    verifyLayout(btf, layout);
  }

  /** Sizes a map before load() (a capacity the admin chooses, e.g. the connection table). */
  setMaxEntries(name: string, maxEntries: number): void {
    if (this.loaded) throw new AlreadyLoadedError(name, this.path);
    const m = checkPtr('find map', lib.object_find_map(this.obj, name) as Ptr | null, name);
    check(`set max_entries of ${name}`, lib.map_set_max_entries(m, maxEntries), String(maxEntries));
  }

  /**
   * The maps already pinned (under pinRoot) that libbpf would refuse to reuse at load(): a map
   * pinned by another version of the object, of another type, key, value or size. Call before
   * load() and after setMaxEntries(); libbpf itself only says "can't reuse" for the first one.
   */
  pinnedMismatches(): PinnedMapMismatch[] {
    if (this.loaded) throw new AlreadyLoadedError('pinned maps', this.path);
    const out: PinnedMapMismatch[] = [];
    for (let m = lib.object_next_map(this.obj, null) as Ptr | null; m; m = lib.object_next_map(this.obj, m) as Ptr | null) {
      const path = lib.map_pin_path(m) as string | null;
      if (path === null || !existsSync(path)) continue;
      const pinned = pinnedMapInfo(path);
      const wanted: MapInfo = {
        type: lib.map_type(m) as number, keySize: lib.map_key_size(m) as number,
        valueSize: lib.map_value_size(m) as number, maxEntries: lib.map_max_entries(m) as number,
      };
      const fields = (['type', 'keySize', 'valueSize', 'maxEntries'] as const).filter((f) => pinned[f] !== wanted[f]);
      if (fields.length > 0) out.push({ name: lib.map_name(m) as string, path, pinned, wanted, fields });
    }
    return out;
  }

  load(): void {
    const rc = lib.object_load(this.obj);
    if (rc < 0) {
      const text = this.log.toString('utf8', 0, Math.max(0, this.log.indexOf(0)));
      if (text.length > 0) throw new VerifierError(-rc, text.slice(-LOG_TAIL));
      check(`load ${this.path}`, rc);
    }
    this.loaded = true;
  }

  programFd(name: string): number {
    const p = checkPtr('find program', lib.object_find_program(this.obj, name) as Ptr | null, name);
    return check(`program fd ${name}`, lib.program_fd(p));
  }

  /** Pins a loaded program at path, replacing an older pin (the old program lives while attached). */
  pinProgram(name: string, path: string): void {
    if (pinExists(path)) unpin(path);
    check(`pin program ${name}`, lib.obj_pin(this.programFd(name), path));
  }

  private mapPtr(name: string, keySize: number, valueSize: number): { fd: number; type: number } {
    if (!this.loaded) throw new NotLoadedError(name, this.path);
    const m = checkPtr('find map', lib.object_find_map(this.obj, name) as Ptr | null, name);
    const ks = lib.map_key_size(m);
    const vs = lib.map_value_size(m);
    if (ks !== keySize || vs !== valueSize) {
      throw new AbiMismatchError(`map ${name}: key/value ${ks}/${vs} bytes in the object, ${keySize}/${valueSize} in the codecs`);
    }
    return { fd: lib.map_fd(m), type: lib.map_type(m) };
  }

  map<K, V>(name: string, key: Codec<K>, value: Codec<V>): BpfMap<K, V> {
    const { fd, type } = this.mapPtr(name, key.size, value.size);
    if (PERCPU_TYPES.has(type)) throw new BpfError(`map ${name}`, 22, 'is per-CPU; use percpuMap()');
    return new BpfMap(name, fd, key, value);
  }

  /**
   * The fd of a loaded map whatever its kind, for maps without keys or values to check (a ring
   * buffer: kernel/ringbuf.ts). The object owns it: it is closed by close().
   */
  mapFd(name: string): number {
    if (!this.loaded) throw new NotLoadedError(name, this.path);
    const m = checkPtr('find map', lib.object_find_map(this.obj, name) as Ptr | null, name);
    return check(`map fd ${name}`, lib.map_fd(m));
  }

  percpuMap<K, V>(name: string, key: Codec<K>, value: Codec<V>): PerCpuMap<K, V> {
    const { fd, type } = this.mapPtr(name, key.size, value.size);
    if (!PERCPU_TYPES.has(type)) throw new BpfError(`map ${name}`, 22, 'is not per-CPU; use map()');
    return new PerCpuMap(name, fd, key, value, check('num_possible_cpus', lib.num_possible_cpus()));
  }

  /** Closes our handles. Pinned maps, programs and links stay in the kernel. */
  close(): void {
    lib.object_close(this.obj);
    this.keep.length = 0;
  }
}

function addr(b: Buffer): bigint {
  return koffi.address(b);
}
