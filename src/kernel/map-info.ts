// SPDX-License-Identifier: Apache-2.0
// What the kernel says about a pinned map (struct bpf_map_info), read without loading anything.

import { lib, check, checkLibc } from './libbpf.js';
import { libc } from './libc.js';

export interface MapInfo {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

// struct bpf_map_info begins: type, id, key_size, value_size, max_entries (u32 each).
const MAP_INFO_SIZE = 80;

/** The pinned map's info. Throws BpfError if it cannot be opened. */
export function pinnedMapInfo(path: string): MapInfo {
  const fd = check(`open pinned map ${path}`, lib.obj_get(path));
  try {
    const info = Buffer.alloc(MAP_INFO_SIZE);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(MAP_INFO_SIZE);
    check(`map info ${path}`, lib.obj_get_info_by_fd(fd, info, len));
    return { type: info.readUInt32LE(0), keySize: info.readUInt32LE(8), valueSize: info.readUInt32LE(12), maxEntries: info.readUInt32LE(16) };
  } finally {
    checkLibc('close map', libc.close(fd));
  }
}
