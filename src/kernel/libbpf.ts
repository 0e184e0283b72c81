// SPDX-License-Identifier: Apache-2.0
// The libbpf entry points xlvs uses, bound through koffi (libc's are in libc.ts).
// Pointers come back as bigint handles; the classes in this folder wrap them.
// libbpf 1.x returns -errno from int calls; pointer calls return NULL and set errno.

import koffi from 'koffi';
import { BpfError } from '../errors.js';
import { errno } from './libc.js';

export { checkLibc, errno } from './libc.js';

const bpf = koffi.load('libbpf.so.1');

export type Ptr = bigint;

export const lib = {
  // objects
  object_open_file: bpf.func('void *bpf_object__open_file(const char *path, void *opts)'),
  object_load: bpf.func('int bpf_object__load(void *obj)'),
  object_close: bpf.func('void bpf_object__close(void *obj)'),
  object_find_program: bpf.func('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
  object_find_map: bpf.func('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
  object_btf: bpf.func('void *bpf_object__btf(void *obj)'),
  program_fd: bpf.func('int bpf_program__fd(void *prog)'),
  map_fd: bpf.func('int bpf_map__fd(void *map)'),
  map_key_size: bpf.func('uint32_t bpf_map__key_size(void *map)'),
  map_value_size: bpf.func('uint32_t bpf_map__value_size(void *map)'),
  map_max_entries: bpf.func('uint32_t bpf_map__max_entries(void *map)'),
  map_set_max_entries: bpf.func('int bpf_map__set_max_entries(void *map, uint32_t max_entries)'),
  map_type: bpf.func('int bpf_map__type(void *map)'),
  object_next_map: bpf.func('void *bpf_object__next_map(void *obj, void *map)'),
  map_name: bpf.func('const char *bpf_map__name(void *map)'),
  map_pin_path: bpf.func('const char *bpf_map__pin_path(void *map)'),
  num_possible_cpus: bpf.func('int libbpf_num_possible_cpus()'),
  // btf
  btf_find_by_name_kind: bpf.func('int btf__find_by_name_kind(void *btf, const char *name, uint32_t kind)'),
  btf_type_by_id: bpf.func('void *btf__type_by_id(void *btf, uint32_t id)'),
  btf_name_by_offset: bpf.func('const char *btf__name_by_offset(void *btf, uint32_t off)'),
  btf_resolve_size: bpf.func('int64_t btf__resolve_size(void *btf, uint32_t id)'),
  // raw fd level
  map_lookup_elem: bpf.func('int bpf_map_lookup_elem(int fd, void *key, void *value)'),
  map_update_elem: bpf.func('int bpf_map_update_elem(int fd, void *key, void *value, uint64_t flags)'),
  map_delete_elem: bpf.func('int bpf_map_delete_elem(int fd, void *key)'),
  map_lookup_batch: bpf.func(
    'int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, void *count, void *opts)',
  ),
  map_update_batch: bpf.func('int bpf_map_update_batch(int fd, void *keys, void *values, void *count, void *opts)'),
  map_lookup_and_delete_batch: bpf.func(
    'int bpf_map_lookup_and_delete_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, void *count, void *opts)',
  ),
  map_create: bpf.func(
    'int bpf_map_create(int map_type, const char *map_name, uint32_t key_size, uint32_t value_size, uint32_t max_entries, void *opts)',
  ),
  obj_pin: bpf.func('int bpf_obj_pin(int fd, const char *path)'),
  obj_get: bpf.func('int bpf_obj_get(const char *path)'),
  obj_get_info_by_fd: bpf.func('int bpf_obj_get_info_by_fd(int fd, void *info, void *len)'),
  map_get_fd_by_id: bpf.func('int bpf_map_get_fd_by_id(uint32_t id)'),
  link_create: bpf.func('int bpf_link_create(int prog_fd, int target_fd, int type, void *opts)'),
  link_update: bpf.func('int bpf_link_update(int link_fd, int new_prog_fd, void *opts)'),
  prog_test_run_opts: bpf.func('int bpf_prog_test_run_opts(int prog_fd, void *opts)'),
  xdp_query: bpf.func('int bpf_xdp_query(int ifindex, int flags, void *opts)'),
  enable_stats: bpf.func('int bpf_enable_stats(int type)'),
};

/** Throws BpfError for a libbpf int result < 0 (-errno); returns it otherwise. */
export function check(op: string, rc: number, detail = ''): number {
  if (rc < 0) throw new BpfError(op, -rc, detail);
  return rc;
}

/** Throws BpfError (with errno) for a NULL pointer result. */
export function checkPtr(op: string, p: Ptr | null, detail = ''): Ptr {
  if (p === null || p === 0n) throw new BpfError(op, errno(), detail);
  return p;
}

export const BPF_ANY = 0;
export const BPF_XDP = 37; // enum bpf_attach_type
export const XDP_FLAGS_SKB_MODE = 1 << 1;
export const XDP_FLAGS_DRV_MODE = 1 << 2;
export const BPF_MAP_TYPE_PERCPU_HASH = 5;
export const BPF_MAP_TYPE_PERCPU_ARRAY = 6;
export const BPF_MAP_TYPE_LRU_PERCPU_HASH = 10;
export const BTF_KIND_STRUCT = 4;
