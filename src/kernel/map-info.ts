// SPDX-License-Identifier: Apache-2.0
// What the kernel says about a pinned map (struct bpf_map_info), read without loading anything.

import { lib, check, checkLibc } from './libbpf.js';
import { libc } from './libc.js';
import { mapInfoOf } from './obj-info.js';

export interface MapInfo {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

/** The pinned map's info. Throws BpfError if it cannot be opened. */
export function pinnedMapInfo(path: string): MapInfo {
  const fd = check(`open pinned map ${path}`, lib.obj_get(path));
  try {
    const info = mapInfoOf(fd, `map info ${path}`);
    return { type: info.type, keySize: info.key_size, valueSize: info.value_size, maxEntries: info.max_entries };
  } finally {
    checkLibc('close map', libc.close(fd));
  }
}
