// SPDX-License-Identifier: Apache-2.0
// `xlvsd --check` as the process an operator runs (issue 14): `node dist/src/cli/xlvsd.js
// --config F --check` as a child, on every file of examples/ (exit 0, "F: ok") and on bad files
// made from them by one wrong value (exit 1, stderr `F:line:col: field: ... (got value)`, the
// line and column found here in the text, not asked of the parser).
// --check also checks that both interfaces exist: each run is in a namespace of its own,
// `xlvs-check-<pid>-<hex>`, holding a veth pair named as the file's interfaces, and deleted after
// (leftovers of a killed run go with the next run's removeStaleFixtures). A pin dir that does not
// exist keeps a daemon's pinned table on this host out of it.

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { guard, unguard, type SyncTeardown } from '../../lab/exit-guard.js';
import { removeStaleFixtures } from '../../testing/stale.js';

const XLVSD = new URL('../../src/cli/xlvsd.js', import.meta.url).pathname;
const EXAMPLES = new URL('../../../examples/', import.meta.url).pathname;
const NO_PIN_DIR = `/sys/fs/bpf/xlvs-test-check-none-${process.pid}`;

/** A network namespace holding a veth pair named `pub` and `priv` (none when both are undefined). */
class Netns implements SyncTeardown {
  readonly name = `xlvs-check-${process.pid}-${randomBytes(3).toString('hex')}`;

  /** local: addresses to put on the public and private interface (an HA config's own ones). */
  constructor(pub?: string, priv?: string, local?: { public: string; private: string }) {
    guard(this);
    try {
      execFileSync('ip', ['netns', 'add', this.name], { stdio: ['ignore', 'ignore', 'pipe'] });
      if (pub !== undefined && priv !== undefined) {
        execFileSync('ip', ['-n', this.name, 'link', 'add', pub, 'type', 'veth', 'peer', 'name', priv], { stdio: ['ignore', 'ignore', 'pipe'] });
        for (const [dev, a] of local ? [[pub, local.public], [priv, local.private]] : []) {
          execFileSync('ip', ['-n', this.name, 'addr', 'add', a.includes(':') ? `${a}/64` : `${a}/24`, 'dev', dev, 'nodad'], { stdio: ['ignore', 'ignore', 'pipe'] });
        }
      }
    } catch (e) {
      this.teardownSync();
      throw e;
    }
  }

  teardownSync(): void {
    unguard(this);
    try {
      execFileSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' });
    } catch {
      // not made, or gone already
    }
  }
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node xlvsd.js --config file --check` with the namespace as its network namespace. */
function xlvsdCheck(file: string, ns: Netns): Promise<Run> {
  const args = [`--net=/run/netns/${ns.name}`, process.execPath, XLVSD, '--config', file, '--check', '--pin-dir', NO_PIN_DIR];
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

/** Runs the check on a file in a fresh namespace with the file's interfaces (or `ifaces`). */
async function checkIn(file: string, ifaces: [string, string] | undefined, local = existsSync(file) ? haLocalOf(readFileSync(file, 'utf8')) : undefined): Promise<Run> {
  const ns = ifaces ? new Netns(ifaces[0], ifaces[1], local) : new Netns();
  try {
    return await xlvsdCheck(file, ns);
  } finally {
    ns.teardownSync();
  }
}

/** An HA config's own addresses (ha.local), which --check wants on its interfaces. */
function haLocalOf(text: string): { public: string; private: string } | undefined {
  // The bad-file cases are not YAML at all: they have no HA addresses to put anywhere.
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    if (e instanceof Error && e.name === 'YAMLParseError') return undefined;
    throw e;
  }
  const ha = (doc as { ha?: { local?: { public?: string; private?: string } } }).ha;
  return ha?.local?.public && ha.local.private ? { public: ha.local.public, private: ha.local.private } : undefined;
}

function interfacesOf(text: string): [string, string] {
  const i = (parse(text) as { interfaces?: { public?: unknown; private?: unknown } }).interfaces;
  assert.ok(typeof i?.public === 'string' && typeof i.private === 'string', 'an example names both interfaces');
  return [i.public, i.private];
}

const examples = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).sort();
let dir: string;

before(() => {
  removeStaleFixtures('xlvs-check', 'xlvs-test-check');
  dir = mkdtempSync(join(tmpdir(), 'xlvs-check-examples-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('examples/ holds the configs the README points to', () => {
  assert.ok(examples.length >= 5, `examples: ${examples.join(', ')}`);
  for (const name of ['lab.yaml', 'methods.yaml', 'health.yaml', 'ipv6.yaml', 'port-groups.yaml']) assert.ok(examples.includes(name), name);
});

/**
 * The example itself, or for an HA one (key_file: /etc/xlvs/ha.key, which this host need not
 * have) a copy in the run's dir naming a key made there.
 */
function runnable(name: string): string {
  const file = join(EXAMPLES, name);
  const text = readFileSync(file, 'utf8');
  if (!text.includes('key_file: /etc/xlvs/ha.key')) return file;
  const key = join(dir, 'ha.key');
  writeFileSync(key, randomBytes(32).toString('hex'), { mode: 0o600 });
  const copy = join(dir, name);
  writeFileSync(copy, text.replace('key_file: /etc/xlvs/ha.key', `key_file: ${key}`));
  return copy;
}

for (const name of examples) {
  test(`examples/${name}: xlvsd --check exits 0 where its interfaces exist, 1 where they do not`, async () => {
    const file = runnable(name);
    const ifaces = interfacesOf(readFileSync(file, 'utf8'));
    const ok = await checkIn(file, ifaces);
    assert.equal(ok.code, 0, `stderr: ${ok.stderr}`);
    assert.equal(ok.stdout, `${file}: ok\n`);
    assert.equal(ok.stderr, '');
    // The same file in a namespace without them: it is the namespace that made the difference.
    const bare = await checkIn(file, undefined);
    assert.equal(bare.code, 1, `passed without its interfaces: ${bare.stdout}`);
    assert.ok(bare.stderr.includes(`interfaces.public: no interface of that name in this network namespace (got "${ifaces[0]}")`), bare.stderr);
  });
}

test('an HA config whose own heartbeat address is not on its interface: --check says which (exit 1)', async () => {
  const file = runnable('ha-r1.yaml');
  const run = await checkIn(file, interfacesOf(readFileSync(file, 'utf8')), { public: '203.0.113.99', private: '10.77.0.2' });
  assert.equal(run.code, 1, run.stdout);
  assert.ok(run.stderr.includes('ha.local.public') && run.stderr.includes('203.0.113.11') && run.stderr.includes('is not an address of interface pub0'), run.stderr);
});

/** A bad file: an example with one piece of text replaced, and what the check must say of it. */
interface BadCase {
  example: string;
  from: string;
  to: string;
  /** Where the error points: the first occurrence of this text at or after the replacement. */
  at: string;
  field: string;
  /** The value as the error quotes it after "got ". */
  got: string;
}

const BAD: BadCase[] = [
  { example: 'methods.yaml', from: 'weight: 3 }', to: 'weight: 70000 }', at: '70000', field: 'services[1].reals[0].weight', got: '70000' },
  { example: 'port-groups.yaml', from: 'scheduler: wlc', to: 'scheduler: wcl', at: 'wcl', field: 'services[0].scheduler', got: '"wcl"' },
  { example: 'ipv6.yaml', from: 'address: fd00:77::12, method: fullnat', to: 'address: fd00:77::1g, method: fullnat', at: 'fd00:77::1g', field: 'services[0].reals[1].address', got: '"fd00:77::1g"' },
  { example: 'health.yaml', from: 'interval_ms: 1000', to: 'interval_ms: -5', at: '-5', field: 'services[0].check.interval_ms', got: '-5' },
  { example: 'lab.yaml', from: '  tcp_fin: 120', to: '  tcp_fni: 120', at: 'tcp_fni', field: 'timeouts.tcp_fni', got: '"tcp_fni"' },
];

/** 1-based line and column of offset in text. */
function position(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, col: offset - before.lastIndexOf('\n') };
}

for (const c of BAD) {
  test(`a bad file from examples/${c.example} (${c.to}): exit 1, file:line:col, ${c.field}, the value`, async () => {
    const good = readFileSync(join(EXAMPLES, c.example), 'utf8');
    const at = good.indexOf(c.from);
    assert.ok(at >= 0, `examples/${c.example} no longer has "${c.from}": choose another value to break`);
    const text = good.slice(0, at) + c.to + good.slice(at + c.from.length);
    const file = join(dir, `bad-${c.example}`);
    writeFileSync(file, text);
    const { line, col } = position(text, text.indexOf(c.at, at));
    const r = await checkIn(file, interfacesOf(good));
    assert.equal(r.code, 1, `passed: ${r.stdout}`);
    assert.equal(r.stdout, '');
    assert.ok(r.stderr.startsWith(`xlvsd: ${file}:${line}:${col}: ${c.field}: `), `want ${file}:${line}:${col}: ${c.field}, stderr: ${r.stderr}`);
    assert.ok(r.stderr.includes(`(got ${c.got})`), `want the value ${c.got}, stderr: ${r.stderr}`);
  });
}

test('a file that is not YAML, a key given twice, a file that is not there: exit 1, file:line:col, what is wrong', async () => {
  const good = readFileSync(join(EXAMPLES, 'methods.yaml'), 'utf8');
  const ifaces = interfacesOf(good);
  // YAML itself refuses a plain value starting with @: the error points at it
  const at = good.indexOf('v4: 10.77.0.1');
  assert.ok(at >= 0, 'examples/methods.yaml no longer has "v4: 10.77.0.1"');
  const text = `${good.slice(0, at)}v4: @10.77.0.1${good.slice(at + 'v4: 10.77.0.1'.length)}`;
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, text);
  const { line, col } = position(text, text.indexOf('@10.77.0.1'));
  const r = await checkIn(broken, ifaces);
  assert.equal(r.code, 1, `passed: ${r.stdout}`);
  assert.ok(r.stderr.startsWith(`xlvsd: ${broken}:${line}:${col}: (yaml): `), r.stderr);
  assert.ok(r.stderr.includes('(got "v4: @10.77.0.1")'), r.stderr);
  // a second `interfaces:` at the end: the field, where it is
  const twice = join(dir, 'twice.yaml');
  writeFileSync(twice, `${good}interfaces: { public: a, private: b }\n`);
  const d = await checkIn(twice, ifaces);
  assert.equal(d.code, 1, `passed: ${d.stdout}`);
  assert.ok(d.stderr.startsWith(`xlvsd: ${twice}:${good.split('\n').length}:1: interfaces: `), d.stderr);
  assert.ok(d.stderr.includes('(got "interfaces")'), d.stderr);
  const missing = join(dir, 'missing.yaml');
  const m = await checkIn(missing, ifaces);
  assert.equal(m.code, 1);
  assert.ok(m.stderr.startsWith(`xlvsd: ${missing}:0:0: (file): cannot read: ENOENT`), m.stderr);
  assert.ok(m.stderr.includes(`(got "${missing}")`), m.stderr);
});
