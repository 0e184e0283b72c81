// SPDX-License-Identifier: Apache-2.0
// The BPF loader against the real kernel (root, bpffs): BTF/ABI check, typed
// map access on the loaded maps (byte order checked with bpftool), batch ops,
// per-CPU maps, reuse of pinned maps by a second load, and verifier errors.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { machine, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfObject } from '../../src/kernel/object.js';
import { ensureBpffs, unpin, DEFAULT_BPFFS } from '../../src/kernel/bpffs.js';
import { u32, u64, type Codec } from '../../src/kernel/codec.js';
import type { Layout } from '../../src/kernel/btf-check.js';
import { AbiMismatchError, VerifierError, XlvsError } from '../../src/errors.js';
import { addressBytes } from '../../src/model/ip.js';
import { openMaps } from '../../src/dataplane/handles.js';
import * as abi from '../../src/gen/abi.js';
import {
  ABI_LAYOUT,
  XLVS_AF_INET,
  XLVS_AF_INET6,
  XLVS_DROP_MAX,
  XLVS_DROP_SLOTS,
  XLVS_EV_MAX,
  XLVS_EV_SLOTS,
  XlvsCounters,
  XlvsFlow,
  XlvsFlowKey,
  XlvsVip,
  XlvsVipKey,
  type XlvsFlow as Flow,
  type XlvsFlowKey as FlowKey,
  type XlvsVipKey as VipKey,
} from '../../src/gen/abi.js';

// dist/test/integration/*.js → repo root is three levels up.
const OBJECT = fileURLToPath(new URL('../../../build/xlvs.bpf.o', import.meta.url));

const pinRoot = join(DEFAULT_BPFFS, `xlvs-test-${process.pid}-${randomBytes(4).toString('hex')}`);
const scratch = mkdtempSync(join(tmpdir(), 'xlvs-bpf-loader-'));
const opened: BpfObject[] = [];
let main: BpfObject;

function open(root = pinRoot, path = OBJECT): BpfObject {
  const o = BpfObject.open(path, { pinRoot: root });
  opened.push(o);
  return o;
}

before(() => {
  ensureBpffs(pinRoot);
  main = open();
  main.load();
});

after(() => {
  for (const o of opened.splice(0)) {
    try {
      o.close();
    } catch (e) {
      console.error('close failed', e);
    }
  }
  unpin(pinRoot);
  rmSync(scratch, { recursive: true, force: true });
});

/** Possible CPUs as the kernel lists them ("0-3,8-11"), counted independently of libbpf. */
function possibleCpus(): number {
  return readFileSync('/sys/devices/system/cpu/possible', 'utf8')
    .trim()
    .split(',')
    .map((r) => r.split('-').map(Number))
    .reduce((n, [a, b]) => n + (b === undefined ? 1 : b - a! + 1), 0);
}

interface DumpEntry {
  key: string[];
  value: string[];
}

function bpftoolDump(path: string): DumpEntry[] {
  return JSON.parse(execFileSync('bpftool', ['map', 'dump', 'pinned', path, '-j'], { encoding: 'utf8' })) as DumpEntry[];
}

const hex = (bytes: string[]): string => bytes.map((b) => b.replace(/^0x/, '').padStart(2, '0')).join(' ');

const isAbiMismatch = (pattern: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof AbiMismatchError, `not an AbiMismatchError: ${String(e)}`);
  assert.equal(e.code, 'E_ABI_MISMATCH');
  assert.match(e.message, pattern);
  return true;
};

test('the generated layout matches the BTF of build/xlvs.bpf.o, and every codec matches its layout', () => {
  const o = open();
  o.verifyAbi(ABI_LAYOUT);
  assert.ok(Object.keys(ABI_LAYOUT).length >= 8, 'layout covers the ABI structs');
  const codecs = Object.values(abi as Record<string, unknown>).filter(
    (v): v is Codec<unknown> => typeof v === 'object' && v !== null && 'encode' in v && 'decode' in v,
  );
  assert.ok(codecs.length >= 8, `found ${codecs.length} codecs`);
  for (const c of codecs) {
    const l = ABI_LAYOUT[c.name];
    assert.ok(l, `codec ${c.name} has a layout`);
    assert.equal(c.size, l.size, `codec ${c.name} size`);
  }
  assert.throws(() => o.map('vips', XlvsVipKey, XlvsVip), /not loaded/);
});

test('a tampered layout throws AbiMismatchError naming the struct', () => {
  const o = open();
  const tamper = (f: (l: Layout) => void): Layout => {
    const l = structuredClone(ABI_LAYOUT);
    f(l);
    return l;
  };
  // a member offset moved
  assert.throws(
    () => o.verifyAbi(tamper((l) => void (l['xlvs_flow']!.members[2]![1] = 13))),
    isAbiMismatch(/struct xlvs_flow\b.*members differ/),
  );
  // a struct grew
  assert.throws(() => o.verifyAbi(tamper((l) => void (l['xlvs_vip_key']!.size = 12))), isAbiMismatch(/struct xlvs_vip_key\b.*12/));
  // a member's size changed
  assert.throws(
    () => o.verifyAbi(tamper((l) => void (l['xlvs_real']!.members[1]![2] = 4))),
    isAbiMismatch(/struct xlvs_real\b/),
  );
  // a member renamed
  assert.throws(
    () => o.verifyAbi(tamper((l) => void (l['xlvs_cfg']!.members[0]![0] = 'timeout_ns'))),
    isAbiMismatch(/struct xlvs_cfg\b/),
  );
  // a member missing
  assert.throws(
    () => o.verifyAbi(tamper((l) => void l['xlvs_svc']!.members.pop())),
    isAbiMismatch(/struct xlvs_svc\b/),
  );
  // a struct the object does not have
  assert.throws(
    () => o.verifyAbi(tamper((l) => void (l['xlvs_nope'] = { size: 4, members: [['x', 0, 4]] }))),
    isAbiMismatch(/struct xlvs_nope\b.*missing/),
  );
  // the untampered layout still passes on the same object
  o.verifyAbi(ABI_LAYOUT);
});

/** Every map the daemon opens (src/dataplane/handles.ts openMaps), by its name in bpf/maps.h. */
const PINNED_MAPS = [
  'vips', 'svcs', 'svc_rr', 'svc_reals', 'svc_tables', 'reals', 'real_conns', 'flows',
  'persist', 'dests', 'svc_stats', 'real_stats', 'drops', 'events', 'cfg', 'probes', 'probe_batch',
  'srcval', 'srcval_prefixes', 'ha', 'ha_floating', 'ha_stats', 'if_macs',
];
/** Pinned too, without a typed handle: ring buffers (the daemon reads them with RingBuf). */
const PINNED_RINGS = ['sync_ring'];

test('load pins every map under pinRoot, and nothing else', () => {
  for (const m of [...PINNED_MAPS, ...PINNED_RINGS]) assert.ok(existsSync(join(pinRoot, m)), `${m} pinned`);
  // the old single ring map is gone (rr/wrr tables live in svc_tables now), and no map is
  // pinned that the daemon does not know about (the per-CPU scratch map stays unpinned)
  assert.deepEqual(readdirSync(pinRoot).sort(), [...PINNED_MAPS, ...PINNED_RINGS].sort());
  // every one of them opens with the daemon's typed codecs (key and value sizes checked)
  const maps = openMaps(main);
  assert.equal(Object.keys(maps).length, PINNED_MAPS.length);
});

/** 16 address bytes as the data plane holds them (`__be32 addr[4]`), from hex. */
const bytes16 = (h: string): Buffer => {
  const b = Buffer.from(h.replace(/ /g, ''), 'hex');
  assert.equal(b.length, 16, `fixture ${h}`);
  return b;
};

const vipId = (k: VipKey): string => `${k.addr.toString('hex')}/${k.family}/${k.port}/${k.proto}`;

test('vips: update/lookup/delete/entries round-trip, keys in network byte order', () => {
  const vips = main.map('vips', XlvsVipKey, XlvsVip);
  const addr = addressBytes('203.0.113.100');
  // IPv4 sits in addr[0], network order, and addr[1..3] are zero
  assert.deepEqual(addr, bytes16('cb007164 00000000 00000000 00000000'));
  const addr6 = addressBytes('2001:db8::64');
  assert.deepEqual(addr6, bytes16('20010db8 00000000 00000000 00000064'));
  const k80: VipKey = { addr, port: 80, proto: 6, family: XLVS_AF_INET };
  const k53: VipKey = { addr, port: 53, proto: 17, family: XLVS_AF_INET };
  const k443: VipKey = { addr: addressBytes('198.51.100.7'), port: 443, proto: 6, family: XLVS_AF_INET };
  const k6: VipKey = { addr: addr6, port: 443, proto: 6, family: XLVS_AF_INET6 };

  assert.equal(vips.lookup(k80), undefined);
  vips.update(k80, { svc_id: 7, flags: 0 });
  vips.update(k53, { svc_id: 4095, flags: 1 });
  vips.update(k443, { svc_id: 0x01020304, flags: 0xffffffff });
  vips.update(k6, { svc_id: 0x0a0b0c0d, flags: 4 });
  assert.deepEqual(vips.lookup(k80), { svc_id: 7, flags: 0 });
  assert.deepEqual(vips.lookup(k443), { svc_id: 0x01020304, flags: 0xffffffff });
  assert.deepEqual(vips.lookup(k6), { svc_id: 0x0a0b0c0d, flags: 4 });
  // same address and port, other protocol: absent
  assert.equal(vips.lookup({ ...k80, proto: 17 }), undefined);
  // same bytes, port and protocol, other family: absent (the family is part of the key)
  assert.equal(vips.lookup({ ...k80, family: XLVS_AF_INET6 }), undefined);
  // an address differing only past the first 4 bytes: absent (all 16 bytes are the key)
  assert.equal(vips.lookup({ ...k80, addr: bytes16('cb007164 00000000 00000000 00000001') }), undefined);

  // replace
  vips.update(k80, { svc_id: 8, flags: 2 });
  assert.deepEqual(vips.lookup(k80), { svc_id: 8, flags: 2 });

  const sortKey = ([k]: [VipKey, unknown]) => vipId(k);
  const all = [...vips.entries()].sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
  const want: [VipKey, { svc_id: number; flags: number }][] = [
    [k80, { svc_id: 8, flags: 2 }],
    [k53, { svc_id: 4095, flags: 1 }],
    [k443, { svc_id: 0x01020304, flags: 0xffffffff }],
    [k6, { svc_id: 0x0a0b0c0d, flags: 4 }],
  ];
  assert.deepEqual(all, want.sort((a, b) => sortKey(a).localeCompare(sortKey(b))));

  // the bytes the kernel holds, as bpftool shows them: 16 address bytes and the port
  // big-endian, then proto and family (20-byte key); the value little-endian
  const z12 = ' 00 00 00 00 00 00 00 00 00 00 00 00';
  const dump = bpftoolDump(join(pinRoot, 'vips'));
  assert.equal(dump.length, 4);
  const byKey = new Map(dump.map((e) => [hex(e.key), hex(e.value)]));
  assert.equal(byKey.get(`cb 00 71 64${z12} 00 50 06 04`), '08 00 00 00 02 00 00 00');
  assert.equal(byKey.get(`cb 00 71 64${z12} 00 35 11 04`), 'ff 0f 00 00 01 00 00 00');
  assert.equal(byKey.get(`c6 33 64 07${z12} 01 bb 06 04`), '04 03 02 01 ff ff ff ff');
  assert.equal(
    byKey.get('20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 64 01 bb 06 06'),
    '0d 0c 0b 0a 04 00 00 00',
  );

  assert.equal(vips.delete(k80), true);
  assert.equal(vips.delete(k80), false, 'second delete finds nothing');
  assert.equal(vips.lookup(k80), undefined);
  assert.deepEqual(
    [...vips.entries()].map(sortKey).sort(),
    [k53, k443, k6].map((k) => sortKey([k, null])).sort(),
  );
  assert.equal(vips.delete(k53), true);
  assert.equal(vips.delete(k443), true);
  assert.equal(vips.delete(k6), true);
  assert.deepEqual([...vips.entries()], []);
  assert.deepEqual(bpftoolDump(join(pinRoot, 'vips')), []);
});

test('flows: updateBatch of 6000 entries reads back exactly through entries()', () => {
  const flows = main.map('flows', XlvsFlowKey, XlvsFlow);
  const N = 6000;
  // one flow in five is IPv6 (2001:db8::/32), the rest IPv4 in the first 4 address bytes
  const v6 = (i: number): boolean => i % 5 === 0;
  const v4Addr = (n: number): Buffer => {
    const b = Buffer.alloc(16);
    b.writeUInt32BE(n >>> 0, 0);
    return b;
  };
  const v6Addr = (net: number, n: number): Buffer => {
    const b = Buffer.alloc(16);
    b.writeUInt32BE(0x20010db8, 0);
    b.writeUInt32BE(net, 8);
    b.writeUInt32BE(n >>> 0, 12);
    return b;
  };
  const fk = (i: number): FlowKey => ({
    src: v6(i) ? v6Addr(1, i * 7919) : v4Addr(0x0a000000 + i * 7919),
    dst: v6(i) ? v6Addr(0, 0x64) : v4Addr(0xcb007164),
    sport: 1024 + (i % 60000),
    dport: i % 2 ? 80 : 443,
    proto: i % 3 ? 6 : 17,
    family: v6(i) ? XLVS_AF_INET6 : XLVS_AF_INET,
  });
  const fv = (i: number): Flow => ({
    expires_ns: 1_000_000_000n * BigInt(i) + 0xfedcba9876543210n - 1_000_000_000n * BigInt(N),
    nat_src: v6(i) ? v6Addr(2, i % 251) : v4Addr(0x0a4e0000 + (i % 253)),
    nat_dst: v6(i) ? v6Addr(3, i % 257) : v4Addr(0x0a4d0000 + (i % 251)),
    nat_sport: 1024 + ((i * 31) % 64000),
    nat_dport: 8000 + (i % 1000),
    state: i % 4,
    real_id: i % 65536,
    svc_id: i % 4096,
    dir: i % 2,
    flags: i % 8,
    method: i % 4,
    nh_ifindex: i % 7,
    nh_expires_ns: BigInt(i) * 3n,
    nh_len: i % 65536,
    nh_dmac: Buffer.from([2, 0, 0, 0, (i >> 8) & 0xff, i & 0xff]),
    nh_smac: Buffer.from([2, 1, 0, 0, (i >> 8) & 0xff, i & 0xff]),
    sync_s: 0,
    tcp: i % 8,
    seq_next: (i * 2654435761) >>> 0,
    ack: (i * 40503) >>> 0,
  });
  const written: [FlowKey, Flow][] = Array.from({ length: N }, (_, i) => [fk(i), fv(i)]);
  flows.updateBatch(written);

  const id = (k: FlowKey) =>
    `${k.family}/${k.src.toString('hex')}/${k.dst.toString('hex')}/${k.sport}/${k.dport}/${k.proto}`;
  const read = new Map<string, Flow>();
  let count = 0;
  for (const [k, v] of flows.entries()) {
    count++;
    read.set(id(k), v);
  }
  assert.equal(count, N, 'each entry read once');
  assert.equal(read.size, N);
  for (const [k, v] of written) assert.deepEqual(read.get(id(k)), v, `flow ${id(k)}`);

  // in smaller batches too
  let small = 0;
  for (const [k, v] of flows.entries(1000)) {
    small++;
    assert.deepEqual(v, read.get(id(k)));
  }
  assert.equal(small, N);

  // a batch smaller than the fullest hash bucket: the kernel says ENOSPC and entries() grows the batch
  let tiny = 0;
  for (const _ of flows.entries(1)) tiny++;
  assert.equal(tiny, N);

  // point lookups agree with the batch, for both families
  assert.deepEqual(flows.lookup(fk(0)), fv(0));
  assert.deepEqual(flows.lookup(fk(1)), fv(1));
  assert.deepEqual(flows.lookup(fk(N - 1)), fv(N - 1));
  // the same 5-tuple bytes under the other family is another key
  assert.equal(flows.lookup({ ...fk(1), family: XLVS_AF_INET6 }), undefined);
});

test('drops: percpuMap returns one value per possible CPU', () => {
  const drops = main.percpuMap('drops', u32, u64);
  const ncpu = possibleCpus();
  assert.equal(drops.ncpus, ncpu);
  for (let r = 0; r < XLVS_DROP_MAX; r++) {
    const v = drops.lookup(r);
    assert.ok(v, `reason ${r} present`);
    assert.equal(v.length, ncpu);
  }
  // room for reasons a later version adds (the pinned array keeps its size), then absent
  assert.ok(XLVS_DROP_MAX <= XLVS_DROP_SLOTS);
  assert.deepEqual(drops.lookup(XLVS_DROP_SLOTS - 1), new Array<bigint>(ncpu).fill(0n));
  assert.equal(drops.lookup(XLVS_DROP_SLOTS), undefined);

  const per = Array.from({ length: ncpu }, (_, i) => 1000n * BigInt(i + 1) + 0x1_0000_0000n);
  drops.update(1, per);
  assert.deepEqual(drops.lookup(1), per);
  const all = new Map([...drops.entries()]);
  assert.equal(all.size, XLVS_DROP_SLOTS);
  assert.deepEqual(all.get(1), per);
  drops.update(1, new Array<bigint>(ncpu).fill(0n));
  assert.deepEqual(drops.lookup(1), new Array<bigint>(ncpu).fill(0n));
  assert.throws(() => drops.update(0, new Array<bigint>(ncpu + 1).fill(0n)), { code: 'E_INVALID_ARGUMENT', message: /one value per possible CPU/ });

  // a struct value per CPU (40 bytes, 8-byte stride)
  const stats = main.percpuMap('svc_stats', u32, XlvsCounters);
  const c = (i: number) => ({ packets_in: BigInt(i), bytes_in: 2n, packets_out: 3n, bytes_out: 4n, conns: 5n + BigInt(i) });
  const vals = Array.from({ length: ncpu }, (_, i) => c(i));
  stats.update(4095, vals);
  assert.deepEqual(stats.lookup(4095), vals);
  stats.update(4095, Array.from({ length: ncpu }, () => c(0)));

  // events: one counter per outcome, per CPU, like drops
  const events = main.percpuMap('events', u32, u64);
  assert.equal(events.lookup(XLVS_EV_MAX - 1)?.length, ncpu);
  assert.ok(XLVS_EV_MAX <= XLVS_EV_SLOTS);
  assert.equal(events.lookup(XLVS_EV_SLOTS - 1)?.length, ncpu);
  assert.equal(events.lookup(XLVS_EV_SLOTS), undefined);
});

test('map kind and codec mismatches throw', () => {
  const isXlvs = (pattern: RegExp) => (e: unknown): boolean => {
    assert.ok(e instanceof XlvsError, `not an XlvsError: ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  };
  assert.throws(() => main.map('drops', u32, u64), isXlvs(/drops.*per-CPU/));
  assert.throws(() => main.map('svc_stats', u32, XlvsCounters), isXlvs(/svc_stats.*per-CPU/));
  assert.throws(() => main.percpuMap('vips', XlvsVipKey, XlvsVip), isXlvs(/vips.*not per-CPU/));
  assert.throws(() => main.map('vips', XlvsFlowKey, XlvsVip), isAbiMismatch(/map vips\b.*20\/8.*40\/8/));
  assert.throws(() => main.map('flows', XlvsFlowKey, XlvsVip), isAbiMismatch(/map flows\b/));
  assert.throws(() => main.map('svcs', u64, abi.XlvsSvc), isAbiMismatch(/map svcs\b/));
  assert.throws(() => main.percpuMap('drops', u32, u32), isAbiMismatch(/map drops\b/));
  assert.throws(() => main.map('no_such_map', u32, u32), isXlvs(/no_such_map/));
});

test('a second load with the same pinRoot reuses the pinned maps', () => {
  const key: VipKey = { addr: addressBytes('203.0.113.100'), port: 8080, proto: 6, family: XLVS_AF_INET };
  const first = main.map('vips', XlvsVipKey, XlvsVip);
  first.update(key, { svc_id: 42, flags: 3 });

  const again = open();
  again.verifyAbi(ABI_LAYOUT);
  again.load();
  const second = again.map('vips', XlvsVipKey, XlvsVip);
  assert.deepEqual(second.lookup(key), { svc_id: 42, flags: 3 }, 'written through the first, seen through the second');
  const key2 = { ...key, port: 8081 };
  second.update(key2, { svc_id: 43, flags: 0 });
  assert.deepEqual(first.lookup(key2), { svc_id: 43, flags: 0 }, 'written through the second, seen through the first');
  // the flows written earlier are there as well
  let n = 0;
  for (const _ of again.map('flows', XlvsFlowKey, XlvsFlow).entries()) n++;
  assert.equal(n, 6000);

  // a load with another pinRoot gets fresh maps
  const otherRoot = join(pinRoot, 'other');
  ensureBpffs(otherRoot);
  const fresh = open(otherRoot);
  fresh.load();
  assert.equal(fresh.map('vips', XlvsVipKey, XlvsVip).lookup(key), undefined);
  assert.ok(existsSync(join(otherRoot, 'vips')));

  first.delete(key);
  assert.equal(second.lookup(key), undefined, 'a delete through the first is seen by the second');
  first.delete(key2);
});

test('a program the verifier rejects throws VerifierError with the verifier log', () => {
  const src = join(scratch, 'bad.bpf.c');
  const obj = join(scratch, 'bad.bpf.o');
  writeFileSync(
    src,
    [
      '// SPDX-License-Identifier: Apache-2.0',
      '#include <linux/bpf.h>',
      '#include <bpf/bpf_helpers.h>',
      '',
      '/* Reads the packet without checking it against data_end. */',
      'SEC("xdp")',
      'int xlvs_test_unchecked(struct xdp_md *ctx)',
      '{',
      '\tunsigned char *data = (unsigned char *)(long)ctx->data;',
      '\treturn data[14] == 0x45 ? XDP_PASS : XDP_DROP;',
      '}',
      '',
      'char LICENSE[] SEC("license") = "GPL";',
      '',
    ].join('\n'),
  );
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', `-I/usr/include/${machine()}-linux-gnu`, '-c', src, '-o', obj], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const bad = open(pinRoot, obj);
  assert.throws(
    () => bad.load(),
    (e: unknown) => {
      assert.ok(e instanceof VerifierError, `not a VerifierError: ${String(e)}`);
      assert.equal(e.code, 'E_VERIFIER');
      assert.ok(e.errno > 0, `errno ${e.errno}`);
      assert.match(e.log, /invalid access to packet/);
      assert.match(e.log, /\bR\d/);
      assert.ok(e.message.includes(e.log), 'the message carries the log');
      return true;
    },
  );
});
