// SPDX-License-Identifier: Apache-2.0
// What a pinned data plane holds, read straight from bpffs (not through a daemon): the maps the
// control plane writes, each service's table through its inner map, and the programs the XDP
// links run. Tests compare two readings to prove nothing was written in between.

import { join } from 'node:path';
import { BpfMap } from '../src/kernel/map.js';
import { u32, type Codec } from '../src/kernel/codec.js';
import { check, lib } from '../src/kernel/libbpf.js';
import { libc } from '../src/kernel/libc.js';
import { XdpLink } from '../src/kernel/link.js';
import { XlvsCfg, XlvsReal, XlvsSvc, XlvsVip, XlvsVipKey } from '../src/gen/abi.js';

const text = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : Buffer.isBuffer(x) ? x.toString('hex') : x));

function withMap<K, V, T>(pinDir: string, name: string, key: Codec<K>, value: Codec<V>, fn: (m: BpfMap<K, V>) => T): T {
  const fd = check(`open pinned ${name}`, lib.obj_get(join(pinDir, 'maps', name)));
  try {
    return fn(new BpfMap(name, fd, key, value));
  } finally {
    libc.close(fd);
  }
}

/** Every entry of a pinned map as text, sorted; an array's zeroed (unused) slots left out. */
function rows<K, V>(pinDir: string, name: string, key: Codec<K>, value: Codec<V>, array = true): string[] {
  const zero = array ? text(value.decode(Buffer.alloc(value.size), 0)) : undefined;
  return withMap(pinDir, name, key, value, (m) => {
    const out: string[] = [];
    for (const [k, v] of m.entries()) {
      if (array && v === 0) continue;
      const t = text(v);
      if (t !== zero) out.push(text([k, v]));
    }
    return out.sort();
  });
}

/** Per service slot, the reals its table (inner map) holds; the inner maps' ids differ per run. */
function tables(pinDir: string): string[] {
  return withMap(pinDir, 'svc_tables', u32, u32, (m) =>
    [...m.entries()].map(([slot, innerId]) => {
      const fd = check(`inner map ${innerId}`, lib.map_get_fd_by_id(innerId));
      try {
        return text([slot, [...new BpfMap(`inner ${innerId}`, fd, u32, u32).entries()].map(([, real]) => real)]);
      } finally {
        libc.close(fd);
      }
    }).sort());
}

/** The program id each pinned XDP link runs (a restart swaps in new ones). */
function links(pinDir: string): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = {};
  for (const role of ['public', 'private']) {
    const link = XdpLink.open(join(pinDir, 'links', role));
    out[role] = link?.info().progId;
    link?.close();
  }
  return out;
}

export interface PinnedReading {
  maps: Record<string, string[]>;
  links: Record<string, number | undefined>;
}

export function readPinned(pinDir: string): PinnedReading {
  return {
    maps: {
      vips: rows(pinDir, 'vips', XlvsVipKey, XlvsVip, false),
      svcs: rows(pinDir, 'svcs', u32, XlvsSvc),
      reals: rows(pinDir, 'reals', u32, XlvsReal),
      svc_reals: rows(pinDir, 'svc_reals', u32, u32),
      svc_rr: rows(pinDir, 'svc_rr', u32, u32),
      cfg: rows(pinDir, 'cfg', u32, XlvsCfg),
      svc_tables: tables(pinDir),
    },
    links: links(pinDir),
  };
}
