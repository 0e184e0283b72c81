// SPDX-License-Identifier: Apache-2.0
// Verifies, at load, that the generated codecs (src/gen/abi.ts) describe the
// structs of the object actually being loaded. A stale build fails loudly here
// instead of writing garbage into maps.

import { AbiMismatchError } from '../errors.js';
import { lib, decodeU32, BTF_KIND_STRUCT, type Ptr } from './libbpf.js';

export type Layout = Record<string, { size: number; members: [string, number, number][] }>;

/** Reads struct `name`'s layout from a libbpf struct btf *. */
export function structLayout(btf: Ptr, name: string): { size: number; members: [string, number, number][] } | null {
  const id = lib.btf_find_by_name_kind(btf, name, BTF_KIND_STRUCT);
  if (id < 0) return null;
  const t = lib.btf_type_by_id(btf, id) as Ptr;
  // struct btf_type { u32 name_off; u32 info; u32 size; } then vlen x struct btf_member { name_off, type, offset }
  const head = decodeU32(t, 3);
  const vlen = head[1]! & 0xffff;
  const kflag = head[1]! >>> 31;
  const raw = decodeU32(t, 3 + vlen * 3);
  const members: [string, number, number][] = [];
  for (let i = 0; i < vlen; i++) {
    const nameOff = raw[3 + i * 3]!;
    const type = raw[4 + i * 3]!;
    const offset = raw[5 + i * 3]!;
    const bits = kflag ? offset & 0xffffff : offset;
    members.push([lib.btf_name_by_offset(btf, nameOff) as string, bits / 8, Number(lib.btf_resolve_size(btf, type))]);
  }
  return { size: head[2]!, members };
}

export function verifyLayout(btf: Ptr, expected: Layout): void {
  for (const [name, want] of Object.entries(expected)) {
    const got = structLayout(btf, name);
    if (!got) throw new AbiMismatchError(`struct ${name} is missing from the object's BTF`);
    if (got.size !== want.size) throw new AbiMismatchError(`struct ${name} is ${got.size} bytes in the object, ${want.size} in the codec`);
    const a = JSON.stringify(got.members);
    const b = JSON.stringify(want.members);
    if (a !== b) throw new AbiMismatchError(`struct ${name} members differ: object ${a}, codec ${b}`);
  }
}
