// SPDX-License-Identifier: Apache-2.0
// bpf_obj_get_info_by_fd: what the kernel says of a map, program or link, decoded with the info
// struct's declaration (structs.ts). The buffer is exactly the declared size and the kernel copies
// min(its size, ours) bytes, so a declaration of a struct's head (bpf_prog_info's) gets the head.

import koffi, { type TypeObject } from 'koffi';
import { check, lib } from './libbpf.js';
import { bpfLinkInfo, bpfMapInfo, bpfProgInfoHead } from './structs.js';

/** The info struct `type` of the object fd, decoded; `what` names it in an error. */
export function objInfo<T>(fd: number, type: TypeObject, what: string): T {
  const info = Buffer.alloc(koffi.sizeof(type));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(info.length);
  check(what, lib.obj_get_info_by_fd(fd, info, len) as number);
  return koffi.decode(info, type) as T;
}

/** The members of struct bpf_map_info xlvs reads. */
export interface BpfMapInfo {
  type: number;
  id: number;
  key_size: number;
  value_size: number;
  max_entries: number;
  map_flags: number;
  name: string;
}

export const mapInfoOf = (fd: number, what = 'map info'): BpfMapInfo => objInfo<BpfMapInfo>(fd, bpfMapInfo, what);

/** The members of the head of struct bpf_prog_info xlvs reads. */
export interface BpfProgInfoHead {
  type: number;
  id: number;
  jited_prog_len: number;
  xlated_prog_len: number;
}

export const progInfoOf = (fd: number, what = 'prog info'): BpfProgInfoHead => objInfo<BpfProgInfoHead>(fd, bpfProgInfoHead, what);

/** The members of struct bpf_link_info xlvs reads (an XDP link's). */
export interface BpfLinkInfo {
  type: number;
  id: number;
  prog_id: number;
  u: { xdp: { ifindex: number } };
}

export const linkInfoOf = (fd: number, what = 'link info'): BpfLinkInfo => objInfo<BpfLinkInfo>(fd, bpfLinkInfo, what);
