// SPDX-License-Identifier: Apache-2.0
// Typed handles on the decap maps, either from a freshly loaded object or from their pins
// (status and detach need no program load). Pinned maps are checked against the codecs by
// key and value size, as BpfObject does for maps it loads.

import { join } from 'node:path';
import { BpfMap, PerCpuMap } from '../kernel/map.js';
import type { BpfObject } from '../kernel/object.js';
import { u32, u64, type Codec } from '../kernel/codec.js';
import { lib, check, checkLibc } from '../kernel/libbpf.js';
import { libc } from '../kernel/libc.js';
import { pinnedMapInfo } from '../kernel/map-info.js';
import { AbiMismatchError } from '../errors.js';
import { XlvsDecapAddr } from '../gen/decap-abi.js';

export interface DecapMaps {
  stats: PerCpuMap<number, bigint>;
  allow: BpfMap<XlvsDecapAddr, number>;
  local: BpfMap<XlvsDecapAddr, number>;
  vips: BpfMap<XlvsDecapAddr, number>;
}

export function objectMaps(obj: BpfObject): DecapMaps {
  return {
    stats: obj.percpuMap('decap_stats', u32, u64),
    allow: obj.map('decap_allow', XlvsDecapAddr, u32),
    local: obj.map('decap_local', XlvsDecapAddr, u32),
    vips: obj.map('decap_vips', XlvsDecapAddr, u32),
  };
}

/** Maps opened from pins; close() releases the fds (the pins keep the maps). */
export interface PinnedDecapMaps extends DecapMaps {
  close(): void;
}

function openPinned(path: string, key: Codec<unknown>, valueSize: number): number {
  const info = pinnedMapInfo(path);
  if (info.keySize !== key.size || info.valueSize !== valueSize) {
    throw new AbiMismatchError(`pinned map ${path}: key/value ${info.keySize}/${info.valueSize} bytes, ${key.size}/${valueSize} in the codecs`);
  }
  return check(`open pinned map ${path}`, lib.obj_get(path));
}

export function pinnedMaps(mapsDir: string): PinnedDecapMaps {
  const fds: number[] = [];
  const close = (): void => {
    for (const fd of fds.splice(0)) checkLibc('close map', libc.close(fd));
  };
  try {
    const open = (name: string, key: Codec<unknown>, valueSize: number): number => {
      const fd = openPinned(join(mapsDir, name), key, valueSize);
      fds.push(fd);
      return fd;
    };
    const ncpus = check('num_possible_cpus', lib.num_possible_cpus());
    const set = (name: string): BpfMap<XlvsDecapAddr, number> => new BpfMap(name, open(name, XlvsDecapAddr, u32.size), XlvsDecapAddr, u32);
    return {
      stats: new PerCpuMap('decap_stats', open('decap_stats', u32, u64.size), u32, u64, ncpus),
      allow: set('decap_allow'),
      local: set('decap_local'),
      vips: set('decap_vips'),
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
}
