// SPDX-License-Identifier: Apache-2.0
// The koffi declarations of src/kernel/structs.ts against the installed headers: a C program
// compiled here prints sizeof and offsetof of every struct and member as the headers define
// them, and each must equal what koffi computes from the declaration. Anonymous members of the
// headers are named u, u1, u2 (unions) and _pad (bitfield padding) in the declarations: the
// unions' members are looked up through them, the padding is not looked up.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi, { type TypeObject } from 'koffi';
import * as S from '../../src/kernel/structs.js';

/** [C type, declaration, whether the declaration is only the struct's head]. */
const STRUCTS: [string, TypeObject, boolean][] = [
  ['struct bpf_object_open_opts', S.bpfObjectOpenOpts, false],
  ['struct bpf_xdp_query_opts', S.bpfXdpQueryOpts, false],
  ['struct bpf_link_create_opts', S.bpfLinkCreateOpts, false],
  ['struct bpf_map_create_opts', S.bpfMapCreateOpts, false],
  ['struct bpf_test_run_opts', S.bpfTestRunOpts, false],
  ['struct xdp_md', S.xdpMd, false],
  ['struct bpf_map_info', S.bpfMapInfo, false],
  ['struct bpf_link_info', S.bpfLinkInfo, false],
  ['struct bpf_prog_info', S.bpfProgInfoHead, true],
  ['struct bpf_devmap_val', S.bpfDevmapVal, false],
  ['struct btf_type', S.btfType, false],
  ['struct btf_member', S.btfMember, false],
];

const ANONYMOUS = /^u\d*$/;

interface Member {
  /** The member as C names it: "a.b", anonymous unions left out. */
  path: string;
  offset: number;
  size: number;
}

/** Every member of a declaration, nested ones too, with offsets from the struct's start. */
function members(t: TypeObject, base = 0, prefix = ''): Member[] {
  const out: Member[] = [];
  for (const m of Object.values(koffi.type(t).members ?? {})) {
    if (m.name === '_pad') continue;
    const mt = koffi.type(m.type);
    const anonymous = ANONYMOUS.test(m.name);
    const path = anonymous ? prefix.replace(/\.$/, '') : prefix + m.name;
    if (!anonymous) out.push({ path, offset: base + m.offset, size: mt.size });
    if (mt.primitive === 'Record' || mt.primitive === 'Union') out.push(...members(mt, base + m.offset, path ? path + '.' : ''));
  }
  return out;
}

test('every struct declared for libbpf and the kernel has the size and offsets of the installed headers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xlvs-structs-'));
  try {
    const lines: string[] = [];
    const want: Record<string, number> = {};
    for (const [c, t, head] of STRUCTS) {
      if (!head) {
        lines.push(`  printf("%s sizeof %zu\\n", ${JSON.stringify(c)}, sizeof(${c}));`);
        want[`${c} sizeof`] = koffi.sizeof(t);
      }
      for (const m of members(t)) {
        lines.push(`  printf("%s %s %zu %zu\\n", ${JSON.stringify(c)}, ${JSON.stringify(m.path)}, offsetof(${c}, ${m.path}), sizeof(((${c} *)0)->${m.path}));`);
        want[`${c} ${m.path}`] = m.offset * 1e6 + m.size;
      }
    }
    const src = [
      '#include <stddef.h>', '#include <stdio.h>', '#include <bpf/libbpf.h>', '#include <bpf/bpf.h>', '#include <linux/bpf.h>', '#include <linux/btf.h>',
      'int main(void)', '{', ...lines, '  return 0;', '}', '',
    ].join('\n');
    writeFileSync(join(dir, 'structs.c'), src);
    execFileSync('clang', ['-Wall', '-Werror', '-o', join(dir, 'structs'), join(dir, 'structs.c')]);
    const got: Record<string, number> = {};
    for (const line of execFileSync(join(dir, 'structs'), { encoding: 'utf8' }).trim().split('\n')) {
      const f = line.split(' ');
      if (f[2] === 'sizeof') got[`${f[0]} ${f[1]} sizeof`] = Number(f[3]);
      else got[`${f[0]} ${f[1]} ${f[2]}`] = Number(f[3]) * 1e6 + Number(f[4]);
    }
    assert.ok(Object.keys(want).length > 100, `${Object.keys(want).length} sizes and offsets compared`);
    assert.deepEqual(got, want, 'offset * 1e6 + size of each member; sizeof of each struct');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
