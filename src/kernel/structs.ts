// SPDX-License-Identifier: Apache-2.0
// The structs xlvs hands to libbpf and the kernel, declared once as koffi structs that follow the
// installed headers (libbpf 1.1.2, x86_64). Callers take offsets and sizes from these
// declarations (koffi.offsetof, koffi.sizeof) or encode and decode whole values with koffi, so
// no module types an offset by hand and a header change is one edit here.
//
// The headers' anonymous members get names here (koffi needs one): a padding bitfield becomes a
// `_pad` u32 and an anonymous union is `u`. A `size_t :0` at the end of an options struct only
// rounds its size up to 8, which koffi's alignment does too. Pointers the kernel or libbpf keeps
// are 'void *' members encoded as bigint addresses of buffers the caller keeps alive.

import koffi, { type TypeObject } from 'koffi';

const u32 = 'uint32_t';
const u64 = 'uint64_t';
const ptr = 'void *';
/** BPF_OBJ_NAME_LEN of linux/bpf.h; a char array decoded as a string. */
const objName = koffi.array('char', 16, 'String');

// ---- libbpf options: /usr/include/bpf/libbpf.h ----

/** struct bpf_object_open_opts (bpf/libbpf.h): bpf_object__open_file's options. */
export const bpfObjectOpenOpts = koffi.struct('xlvs_bpf_object_open_opts', {
  sz: 'size_t', object_name: ptr, relaxed_maps: 'bool', pin_root_path: ptr,
  _pad: u32, // `__u32 :32`, the removed attach_prog_fd
  kconfig: ptr, btf_custom_path: ptr, kernel_log_buf: ptr, kernel_log_size: 'size_t', kernel_log_level: u32,
});

/** struct bpf_xdp_query_opts (bpf/libbpf.h): bpf_xdp_query's answer. */
export const bpfXdpQueryOpts = koffi.struct('xlvs_bpf_xdp_query_opts', {
  sz: 'size_t', prog_id: u32, drv_prog_id: u32, hw_prog_id: u32, skb_prog_id: u32, attach_mode: 'uint8_t',
});

// ---- libbpf low-level options: /usr/include/bpf/bpf.h ----

/** struct bpf_link_create_opts (bpf/bpf.h). */
export const bpfLinkCreateOpts = koffi.struct('xlvs_bpf_link_create_opts', {
  sz: 'size_t', flags: u32, iter_info: ptr, iter_info_len: u32, target_btf_id: u32,
  u: koffi.union('xlvs_bpf_link_create_opts_u', {
    perf_event: koffi.struct({ bpf_cookie: u64 }),
    kprobe_multi: koffi.struct({ flags: u32, cnt: u32, syms: ptr, addrs: ptr, cookies: ptr }),
    tracing: koffi.struct({ cookie: u64 }),
  }),
});

/** struct bpf_map_create_opts (bpf/bpf.h). */
export const bpfMapCreateOpts = koffi.struct('xlvs_bpf_map_create_opts', {
  sz: 'size_t', btf_fd: u32, btf_key_type_id: u32, btf_value_type_id: u32, btf_vmlinux_value_type_id: u32,
  inner_map_fd: u32, map_flags: u32, map_extra: u64, numa_node: u32, map_ifindex: u32,
});

/** struct bpf_test_run_opts (bpf/bpf.h): bpf_prog_test_run_opts's options and answer. */
export const bpfTestRunOpts = koffi.struct('xlvs_bpf_test_run_opts', {
  sz: 'size_t', data_in: ptr, data_out: ptr, data_size_in: u32, data_size_out: u32,
  ctx_in: ptr, ctx_out: ptr, ctx_size_in: u32, ctx_size_out: u32, retval: u32,
  repeat: 'int', duration: u32, flags: u32, cpu: u32, batch_size: u32,
});

// ---- kernel UAPI: /usr/include/linux/bpf.h ----

/** struct xdp_md (linux/bpf.h): an XDP program's ctx, as BPF_PROG_TEST_RUN takes and returns it. */
export const xdpMd = koffi.struct('xlvs_xdp_md', {
  data: u32, data_end: u32, data_meta: u32, ingress_ifindex: u32, rx_queue_index: u32, egress_ifindex: u32,
});

/** struct bpf_map_info (linux/bpf.h): what bpf_obj_get_info_by_fd says of a map. */
export const bpfMapInfo = koffi.struct('xlvs_bpf_map_info', {
  type: u32, id: u32, key_size: u32, value_size: u32, max_entries: u32, map_flags: u32, name: objName,
  ifindex: u32, btf_vmlinux_value_type_id: u32, netns_dev: u64, netns_ino: u64,
  btf_id: u32, btf_key_type_id: u32, btf_value_type_id: u32,
  _pad: u32, // `__u32 :32`
  map_extra: u64,
});

/** struct bpf_link_info (linux/bpf.h): what bpf_obj_get_info_by_fd says of a link. */
export const bpfLinkInfo = koffi.struct('xlvs_bpf_link_info', {
  type: u32, id: u32, prog_id: u32,
  u: koffi.union('xlvs_bpf_link_info_u', {
    raw_tracepoint: koffi.struct({ tp_name: u64, tp_name_len: u32 }),
    tracing: koffi.struct({ attach_type: u32, target_obj_id: u32, target_btf_id: u32 }),
    cgroup: koffi.struct({ cgroup_id: u64, attach_type: u32 }),
    iter: koffi.struct({
      target_name: u64, target_name_len: u32,
      u1: koffi.union({ map: koffi.struct({ map_id: u32 }) }),
      u2: koffi.union({ cgroup: koffi.struct({ cgroup_id: u64, order: u32 }), task: koffi.struct({ tid: u32, pid: u32 }) }),
    }),
    netns: koffi.struct({ netns_ino: u32, attach_type: u32 }),
    xdp: koffi.struct({ ifindex: u32 }),
  }),
});

/**
 * The head of struct bpf_prog_info (linux/bpf.h), up to xlated_prog_len. The kernel copies at
 * most the size it is given, so a buffer of this size gets the head and no pointer is needed.
 */
export const bpfProgInfoHead = koffi.struct('xlvs_bpf_prog_info_head', {
  type: u32, id: u32, tag: koffi.array('uint8_t', 8), jited_prog_len: u32, xlated_prog_len: u32,
});

/** struct bpf_devmap_val (linux/bpf.h): a devmap value (prog fd on write, prog id on read). */
export const bpfDevmapVal = koffi.struct('xlvs_bpf_devmap_val', {
  ifindex: u32,
  bpf_prog: koffi.union('xlvs_bpf_devmap_val_prog', { fd: 'int', id: u32 }),
});

// ---- BTF: /usr/include/linux/btf.h ----

/** struct btf_type (linux/btf.h): a type's head; `u` is the anonymous union { size; type }. */
export const btfType = koffi.struct('xlvs_btf_type', {
  name_off: u32, info: u32, u: koffi.union('xlvs_btf_type_u', { size: u32, type: u32 }),
});

/** struct btf_member (linux/btf.h): one member of a struct or union, after its btf_type. */
export const btfMember = koffi.struct('xlvs_btf_member', { name_off: u32, type: u32, offset: u32 });

// ---- helpers ----

/** The byte offsets of the named members of a struct type. */
export function offsets<K extends string>(type: TypeObject, names: readonly K[]): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const n of names) out[n] = koffi.offsetof(type, n);
  return out;
}

/**
 * A libbpf options struct: a zeroed buffer of the struct's size with `sz` set to it (how libbpf
 * tells versions apart) and `fields` encoded; members not named stay 0, libbpf's defaults.
 */
export function libbpfOpts(type: TypeObject, fields: Record<string, unknown> = {}): Buffer {
  const b = Buffer.alloc(koffi.sizeof(type));
  koffi.encode(b, type, { ...fields, sz: b.length });
  return b;
}
