// SPDX-License-Identifier: Apache-2.0
// What a full config apply, a reload and two API changes write into the maps, compared with a
// recording made before the control plane's state pipeline was redesigned (issue 12): a real
// xlvsd in a lab applies one large config (1,200 services of every scheduler, method and family,
// port groups, persistence, thresholds), is reloaded with a changed one (services added and
// removed, reals reweighted, added and removed, schedulers and methods changed, a frontend moved
// to another service), then gets an AddReal and a RemoveReal. After each step every map the
// control plane writes is read back from bpffs (each service's table through its inner map) and
// hashed; the hashes must equal test/golden/apply-maps.json.
//
// XLVS_GOLDEN_RECORD=1 writes the file instead of comparing (done once, on the code before the
// redesign; never set in make test).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { BpfMap, PerCpuMap } from '../../src/kernel/map.js';
import { u32, type Codec } from '../../src/kernel/codec.js';
import { check, lib } from '../../src/kernel/libbpf.js';
import { libc } from '../../src/kernel/libc.js';
import { XlvsCfg, XlvsCounters, XlvsReal, XlvsSvc, XlvsVip, XlvsVipKey } from '../../src/gen/abi.js';
import { METHOD_LAB } from '../../lab/method-reals.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GOLDEN = join(ROOT, 'test/golden/apply-maps.json');
const RECORD = process.env['XLVS_GOLDEN_RECORD'] === '1';

const N = 1200;
const SCHEDS = ['wlc', 'rr', 'wrr', 'lc', 'sh', 'dh', 'mh', 'sed', 'nq', 'lblc', 'lblcr', 'fo', 'ovf'] as const;
const METHODS = ['nat', 'dr', 'tun', 'fullnat'] as const;

/** Service i of a config generation `gen` (0: the first apply, 1: the reload). */
function serviceYaml(i: number, gen: number): string | undefined {
  // the reload drops every 17th service and adds 60 new ones past N
  if (gen === 1 && i % 17 === 3) return undefined;
  if (gen === 0 && i >= N) return undefined;
  const v6 = i % 5 === 4;
  const vip = v6 ? `"2001:db8:${(i >> 8).toString(16)}::${(i & 255).toString(16)}"` : `198.18.${i >> 8}.${i & 255}`;
  const sched = SCHEDS[(i + (gen === 1 && i % 11 === 0 ? 1 : 0)) % SCHEDS.length]!;
  const method = METHODS[(i + (gen === 1 && i % 13 === 0 ? 1 : 0)) % METHODS.length]!;
  const keepsPort = method === 'dr' || method === 'tun';
  const nReals = 1 + (i % 8);
  const reals: string[] = [];
  for (let j = 0; j < nReals; j++) {
    if (gen === 1 && i % 7 === 0 && j === 0) continue; // a real removed
    const a = v6 ? `"fd00:77::${(0x100 + ((i * 8 + j) & 0xfff)).toString(16)}"` : `10.77.${1 + (j % 4)}.${(i * 3 + j) & 255}`;
    const weight = gen === 1 && i % 5 === 1 && j === 1 ? 7 : 1 + ((i + j) % 4) - (j === 3 && i % 9 === 0 ? 1 : 0);
    const limits = i % 10 === 6 ? ', upper_threshold: 100, lower_threshold: 50' : '';
    reals.push(`      - { address: ${a}${keepsPort ? '' : `, port: ${8000 + (j % 3)}`}, weight: ${weight}, method: ${method}${limits} }`);
  }
  if (gen === 1 && i % 7 === 2) { // a real added
    const a = v6 ? `"fd00:77::${(0x2000 + i).toString(16)}"` : `10.77.9.${i & 255}`;
    reals.push(`      - { address: ${a}${keepsPort ? '' : ', port: 9000'}, weight: 2, method: ${method} }`);
  }
  // Port groups: service 0 holds 80 and 443 at first; the reload moves 443 to service 1.
  const ports = i === 0 ? (gen === 0 ? 'ports: [80, 443]' : 'ports: [80]') : i === 1 ? (gen === 0 ? 'port: 8443' : 'ports: [8443, 443]') : `port: ${80 + (i % 3)}`;
  const vipLine = i <= 1 ? '198.18.250.1' : vip;
  const extra = [
    sched === 'mh' ? '    mh_table_size: 251' : '',
    i % 6 === 5 ? '    persistence: { timeout: 300 }' : '',
    sched === 'sh' && i % 4 === 0 ? '    hash: { port: true, fallback: true }' : '',
  ].filter((l) => l !== '');
  return [`  - vip: ${vipLine}`, `    ${ports}`, `    protocol: ${i % 4 === 3 ? 'udp' : 'tcp'}`, `    scheduler: ${sched}`, ...extra, '    reals:', ...reals].join('\n');
}

function config(gen: number): string {
  const services: string[] = [];
  for (let i = 0; i < N + 60; i++) {
    const s = serviceYaml(i, gen);
    if (s !== undefined) services.push(s);
  }
  return [
    'interfaces: { public: pub0, private: priv0 }',
    `local_addresses: { v4: ${METHOD_LAB.local4}, v6: "${METHOD_LAB.local6}" }`,
    'hash_seed: 424242',
    `timeouts: { tcp: ${gen === 0 ? 900 : 600}, tcp_fin: 120, udp: 300 }`,
    'services:',
    ...services,
    '',
  ].join('\n');
}

let lab: Lab;
let xlvsd: XlvsdProcess;

before(async () => {
  lab = await Lab.create({ reals: 1 });
  xlvsd = await XlvsdProcess.start(lab, { config: config(0), readyTimeoutMs: 120_000 });
});

after(async () => {
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

const bigintSafe = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? v.toString('hex') : v);
const digest = (rows: unknown[]): string => createHash('sha256').update(JSON.stringify(rows, bigintSafe)).digest('hex');

function openPinned<K, V>(name: string, key: Codec<K>, value: Codec<V>): { map: BpfMap<K, V>; fd: number } {
  const fd = check(`open pinned ${name}`, lib.obj_get(join(xlvsd.pinDir, 'maps', name)));
  return { map: new BpfMap(name, fd, key, value), fd };
}

/** Every entry of a pinned map, in key order, hashed; the fd is closed. */
function mapDigest<K, V>(name: string, key: Codec<K>, value: Codec<V>): string {
  const { map, fd } = openPinned(name, key, value);
  try {
    const rows = [...map.entries()].map(([k, v]) => [JSON.stringify(k, bigintSafe), v] as const);
    rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return digest(rows);
  } finally {
    libc.close(fd);
  }
}

/** The tables: for each service slot, the real ids its inner map holds (map ids differ per run). */
function tablesDigest(): string {
  const { map, fd } = openPinned('svc_tables', u32, u32);
  try {
    const rows: Array<[number, number[]]> = [];
    for (const [slot, innerId] of map.entries()) {
      const innerFd = check(`inner map ${innerId}`, lib.map_get_fd_by_id(innerId));
      try {
        rows.push([slot, [...new BpfMap(`inner ${innerId}`, innerFd, u32, u32).entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v)]);
      } finally {
        libc.close(innerFd);
      }
    }
    return digest(rows.sort((a, b) => a[0] - b[0]));
  } finally {
    libc.close(fd);
  }
}

function perCpuDigest(name: string): string {
  const fd = check(`open pinned ${name}`, lib.obj_get(join(xlvsd.pinDir, 'maps', name)));
  try {
    const m = new PerCpuMap(name, fd, u32, XlvsCounters, check('num_possible_cpus', lib.num_possible_cpus()));
    return digest([...m.entries()].sort((a, b) => a[0] - b[0]));
  } finally {
    libc.close(fd);
  }
}

function snapshot(): Record<string, string> {
  return {
    cfg: mapDigest('cfg', u32, XlvsCfg),
    vips: mapDigest('vips', XlvsVipKey, XlvsVip),
    svcs: mapDigest('svcs', u32, XlvsSvc),
    reals: mapDigest('reals', u32, XlvsReal),
    svc_reals: mapDigest('svc_reals', u32, u32),
    svc_rr: mapDigest('svc_rr', u32, u32),
    svc_tables: tablesDigest(),
    svc_stats: perCpuDigest('svc_stats'),
    real_stats: perCpuDigest('real_stats'),
  };
}

async function untilLogged(pattern: RegExp, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!pattern.test(xlvsd.output)) {
    if (Date.now() > deadline) assert.fail(`${what} not logged within 60 s: ${xlvsd.output.slice(-1000)}`);
    await sleep(50);
  }
}

test('a full apply, a reload and two API changes write exactly the maps recorded before the redesign', async () => {
  const got: Record<string, Record<string, string>> = {};
  got['apply'] = snapshot();
  xlvsd.writeConfig(config(1));
  xlvsd.reload();
  await untilLogged(/"msg":"config reloaded"/, 'the reload');
  // The reload removed services: their tables are dropped in the background, then logged.
  await untilLogged(/"msg":"scheduling tables of removed services dropped"/, 'the removed services\' tables dropped');
  got['reload'] = snapshot();
  // service 12 (nat) gets a real; service 8 (nat) loses its only one
  await xlvsd.api.addReal({ vip: '198.18.0.12', port: 80, protocol: 'tcp' }, { address: '10.77.3.250', port: 8001, weight: 3, method: 'nat', upper_threshold: 0, lower_threshold: 0 });
  await xlvsd.api.removeReal({ vip: '198.18.0.8', port: 82, protocol: 'tcp' }, '10.77.1.24', 8000);
  got['api'] = snapshot();
  if (RECORD) {
    writeFileSync(GOLDEN, `${JSON.stringify(got, null, 2)}\n`);
    return;
  }
  const want = JSON.parse(readFileSync(GOLDEN, 'utf8')) as typeof got;
  assert.deepEqual(got, want);
});
