// SPDX-License-Identifier: Apache-2.0
// `xlvsd --check` (the systemd unit's ExecStartPre) refuses what the daemon's start would refuse
// on this host (issue 13): a missing interface (in the namespace it runs in), more than the data
// plane holds, a flow_entries the pinned connection table does not have. Each case is a real
// `xlvsd --check` run, in a namespace `xlvs-check-<pid>-<hex>` with interfaces pub0 and priv0.

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { guard, unguard, type SyncTeardown } from '../../lab/exit-guard.js';
import { removeStaleFixtures } from '../../testing/stale.js';
import { ensureBpffs, unpin } from '../../src/kernel/bpffs.js';
import { check, lib } from '../../src/kernel/libbpf.js';
import { libc } from '../../src/kernel/libc.js';
import { XlvsFlow, XlvsFlowKey, XLVS_MAX_SVCS } from '../../src/gen/abi.js';

const XLVSD = new URL('../../src/cli/xlvsd.js', import.meta.url).pathname;
const BPF_MAP_TYPE_LRU_HASH = 9;
const PINNED_ENTRIES = 8192;

/** The namespace, the work dir and a pin dir holding a connection table of PINNED_ENTRIES. */
class Fixture implements SyncTeardown {
  readonly id = `${process.pid}-${randomBytes(3).toString('hex')}`;
  readonly ns = `xlvs-check-${this.id}`;
  readonly pinDir = `/sys/fs/bpf/xlvs-test-check-${this.id}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'xlvs-check-'));

  static create(): Fixture {
    removeStaleFixtures('xlvs-check', 'xlvs-test-check');
    const f = new Fixture();
    guard(f);
    try {
      execFileSync('ip', ['netns', 'add', f.ns]);
      execFileSync('ip', ['-n', f.ns, 'link', 'add', 'pub0', 'type', 'veth', 'peer', 'name', 'priv0']);
      ensureBpffs(join(f.pinDir, 'maps'));
      // The table a running (or stopped) daemon left pinned: only its size matters here.
      const fd = check('create flows', lib.map_create(BPF_MAP_TYPE_LRU_HASH, 'flows', XlvsFlowKey.size, XlvsFlow.size, PINNED_ENTRIES, null));
      try {
        check('pin flows', lib.obj_pin(fd, join(f.pinDir, 'maps', 'flows')));
      } finally {
        libc.close(fd);
      }
    } catch (e) {
      f.teardownSync();
      throw e;
    }
    return f;
  }

  teardownSync(): void {
    unguard(this);
    try {
      execFileSync('ip', ['netns', 'del', this.ns], { stdio: 'ignore' });
    } catch {
      // not made, or gone already
    }
    unpin(this.pinDir);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** `xlvsd --config (text) --check` in the namespace: nsenter keeps the mounts (the pin dir). */
  check(config: string, pinDir = this.pinDir): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const file = join(this.dir, `c-${randomBytes(3).toString('hex')}.yaml`);
    writeFileSync(file, config);
    const args = [`--net=/run/netns/${this.ns}`, process.execPath, XLVSD, '--config', file, '--check', '--pin-dir', pinDir];
    return new Promise((resolve, reject) => {
      const child = spawn('nsenter', args, { env: { ...process.env, XLVS_LOG_LEVEL: 'silent' } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
  }
}

let fx: Fixture;
before(() => {
  fx = Fixture.create();
});
after(() => fx?.teardownSync());

const IFACES = 'interfaces: { public: pub0, private: priv0 }\n';
const ONE = 'services:\n  - { vip: 203.0.113.100, port: 80, reals: [{ address: 10.77.0.11 }] }\n';
const vip = (i: number): string => `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

async function refused(config: string, ...parts: string[]): Promise<void> {
  const r = await fx.check(config);
  assert.equal(r.code, 1, `xlvsd --check passed: ${r.stdout}`);
  for (const part of parts) assert.ok(r.stderr.includes(part), `${r.stderr} should include ${part}`);
}

test('a config the host can run passes', async () => {
  const r = await fx.check(`${IFACES}flow_entries: ${PINNED_ENTRIES}\n${ONE}`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /: ok\n$/);
});

test('an interface missing from the namespace it runs in is refused, naming the field', async () => {
  await refused(`interfaces: { public: pub0, private: eth9 }\nflow_entries: ${PINNED_ENTRIES}\n${ONE}`,
    'interfaces.private: no interface of that name in this network namespace (got "eth9")');
});

test('a flow_entries the pinned connection table does not have is refused; without a pinned table it passes', async () => {
  const config = `${IFACES}flow_entries: 16384\n${ONE}`;
  await refused(config, `flow_entries: the pinned connection table has ${PINNED_ENTRIES} entries`);
  const r = await fx.check(config, join(fx.pinDir, 'none'));
  assert.equal(r.code, 0, r.stderr);
});

test('more than the data plane holds is refused: 20,000 services, and 70,000 frontends plus VIP addresses', async () => {
  const lines = [IFACES, `flow_entries: ${PINNED_ENTRIES}\n`, 'services:\n'];
  for (let i = 0; i < 20_000; i++) lines.push(`  - { vip: ${vip(i)}, port: 80 }\n`);
  await refused(lines.join(''), `services[${XLVS_MAX_SVCS}]: too many services: the data plane holds at most ${XLVS_MAX_SVCS}`);
  // Fewer services than that, but 4 frontends and a VIP address each: a vips map of 65,536 entries.
  const groups = [IFACES, `flow_entries: ${PINNED_ENTRIES}\n`, 'services:\n'];
  for (let i = 0; i < 14_000; i++) groups.push(`  - { vip: ${vip(i)}, ports: [80, 443, 8080, 8443] }\n`);
  await refused(groups.join(''), 'too many frontends plus VIP addresses: the data plane holds at most 65536 (the change needs 70000)');
});
