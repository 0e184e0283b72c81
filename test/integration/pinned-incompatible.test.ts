// SPDX-License-Identifier: Apache-2.0
// A pin dir holding maps that another version of xlvs made and this one declares otherwise (the
// drops array of a version with 12 reasons, a probes map whose entries were 80 bytes): the start
// is refused before anything is loaded, pinned or attached, with every such map and what differs,
// and `xlvsd --check` says the same. libbpf alone says "can't reuse" about the first map only.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pino from 'pino';
import { ensureBpffs, unpin, DEFAULT_BPFFS } from '../../src/kernel/bpffs.js';
import { check, lib, BPF_MAP_TYPE_PERCPU_ARRAY } from '../../src/kernel/libbpf.js';
import { libc } from '../../src/kernel/libc.js';
import { Dataplane } from '../../src/dataplane/handles.js';
import { BpfObject } from '../../src/kernel/object.js';
import { PinnedMapsIncompatibleError } from '../../src/errors.js';
import { XLVS_DROP_SLOTS } from '../../src/gen/abi.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const OBJECT = join(ROOT, 'build/xlvs.bpf.o');
const BPF_MAP_TYPE_ARRAY = 2;
const pinDir = join(DEFAULT_BPFFS, `xlvs-test-incompat-${process.pid}-${randomBytes(4).toString('hex')}`);
const scratch = mkdtempSync(join(tmpdir(), 'xlvs-incompat-'));

after(() => {
  unpin(pinDir);
  rmSync(scratch, { recursive: true, force: true });
});

/** Pins a map as an older xlvs would have made it. */
function pinOld(name: string, type: number, keySize: number, valueSize: number, maxEntries: number): void {
  const fd = check(`create ${name}`, lib.map_create(type, name, keySize, valueSize, maxEntries, null));
  try {
    check(`pin ${name}`, lib.obj_pin(fd, join(pinDir, 'maps', name)));
  } finally {
    libc.close(fd);
  }
}

test('a pin dir of another version: the start is refused naming every map that differs, and nothing is loaded', () => {
  ensureBpffs(pinDir);
  rmSync(join(pinDir, 'maps'), { recursive: true, force: true });
  ensureBpffs(join(pinDir, 'maps'));
  pinOld('drops', BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 12);
  pinOld('probes', BPF_MAP_TYPE_ARRAY, 4, 80, 65536);

  const log = pino({ level: 'silent' });
  assert.throws(
    () => Dataplane.load(OBJECT, pinDir, { public: 'lo', private: 'lo', mode: 'generic' }, 8192, log),
    (e: unknown) => {
      assert.ok(e instanceof PinnedMapsIncompatibleError, String(e));
      assert.equal(e.code, 'E_PINNED_INCOMPATIBLE');
      assert.deepEqual(e.maps.map((m) => m.name).sort(), ['drops', 'probes']);
      assert.match(e.message, new RegExp(`drops \\(pinned 12 entries, this version ${XLVS_DROP_SLOTS}\\)`));
      assert.match(e.message, /probes \(pinned 80 value bytes, this version \d+\)/);
      assert.match(e.message, /nothing was changed.*xlvsd --teardown --pin-dir/);
      return true;
    },
  );
  // Nothing was pinned next to them, no program and no link.
  assert.deepEqual(readdirSync(join(pinDir, 'maps')).sort(), ['drops', 'probes']);
  for (const d of ['progs', 'links']) assert.deepEqual(readdirSync(join(pinDir, d)), [], `${d}/ is empty`);
});

test('xlvsd --check refuses the same pin dir with the same error', async () => {
  const config = join(scratch, 'xlvs.yaml');
  writeFileSync(config, 'interfaces: { public: pub0, private: priv0 }\nservices: []\n');
  const run = promisify(execFile);
  const r = await run(process.execPath, [join(ROOT, 'dist/src/cli/xlvsd.js'), '--config', config, '--check', '--pin-dir', pinDir, '--object', OBJECT])
    .then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }));
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /E_PINNED_INCOMPATIBLE|another xlvs version/);
  assert.match(r.stderr, /drops \(pinned 12 entries/);
});

test('the maps this version pins are adopted by it: no mismatch', () => {
  unpin(pinDir);
  ensureBpffs(join(pinDir, 'maps'));
  // Loading pins every map (nothing is attached: no interface is touched).
  const first = BpfObject.open(OBJECT, { pinRoot: join(pinDir, 'maps') });
  try {
    first.load();
  } finally {
    first.close();
  }
  assert.ok(readdirSync(join(pinDir, 'maps')).includes('drops'));
  const again = BpfObject.open(OBJECT, { pinRoot: join(pinDir, 'maps') });
  try {
    assert.deepEqual(again.pinnedMismatches(), []);
  } finally {
    again.close();
  }
});
