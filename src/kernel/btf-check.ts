// SPDX-License-Identifier: Apache-2.0
// Verifies, at load, that the generated codecs (src/gen/abi.ts) describe the
// structs of the object actually being loaded. A stale build fails loudly here
// instead of writing garbage into maps.

import koffi from 'koffi';
import { AbiMismatchError } from '../errors.js';
import { lib, BTF_KIND_STRUCT, type Ptr } from './libbpf.js';
import { btfMember, btfType } from './structs.js';

const BTF_TYPE_SIZE = koffi.sizeof(btfType);

export type Layout = Record<string, { size: number; members: [string, number, number][] }>;

/** Reads struct `name`'s layout from a libbpf struct btf *. */
export function structLayout(btf: Ptr, name: string): { size: number; members: [string, number, number][] } | null {
  const id = lib.btf_find_by_name_kind(btf, name, BTF_KIND_STRUCT);
  if (id < 0) return null;
  const t = lib.btf_type_by_id(btf, id) as Ptr;
  // The members follow the type's head in libbpf's copy of the BTF.
  const head = koffi.decode(t, btfType) as { info: number; u: { size: number } };
  const vlen = head.info & 0xffff;
  const kflag = head.info >>> 31;
  const raw = koffi.decode(t, BTF_TYPE_SIZE, btfMember, vlen) as { name_off: number; type: number; offset: number }[];
  const members: [string, number, number][] = raw.map((m) => {
    const bits = kflag ? m.offset & 0xffffff : m.offset;
    return [lib.btf_name_by_offset(btf, m.name_off) as string, bits / 8, Number(lib.btf_resolve_size(btf, m.type))];
  });
  return { size: head.u.size, members };
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
