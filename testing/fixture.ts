// SPDX-License-Identifier: Apache-2.0
// Katran-style packet fixtures: an input frame, the program it goes through, and what must come
// out (verdict, and the output frame field by field). Fixtures run with BPF_PROG_TEST_RUN; a
// batch can run inside a lab namespace so that ingress interfaces and bpf_fib_lookup are that
// namespace's. A mismatch reads "l3.dst: expected 10.77.0.11, got 203.0.113.100".

import { BpfObject } from '../src/kernel/object.js';
import { ensureBpffs, unpin } from '../src/kernel/bpffs.js';
import { inNetns, verdictName, XdpTestRunner, type XdpVerdictName } from '../src/kernel/test-run.js';
import { lib as bpfLib } from '../src/kernel/libbpf.js';
import { libc } from '../src/kernel/libc.js';
import { u32, u64 } from '../src/kernel/codec.js';
import { openMaps, type Maps } from '../src/dataplane/handles.js';
import * as abi from '../src/gen/abi.js';
import { InvalidArgumentError, XlvsError } from '../src/errors.js';
import { buildFrame, parseFrame, badChecksums, type FrameSpec, type ParsedFrame } from './frames.js';

export interface Fixture {
  name: string;
  /** A program name of the object under test: 'xlvs_public', 'xlvs_private', ... */
  prog: string;
  input: FrameSpec | Buffer;
  /** Interface the frame arrives on, by name in the namespace the batch runs in (default: loopback). */
  ingress?: string;
  expect: {
    verdict: XdpVerdictName;
    /**
     * The output frame: a spec compared field by field, 'unchanged' (the input bytes), or a
     * function that asserts on the parsed output (throw to fail).
     */
    frame?: FrameSpec | 'unchanged' | ((parsed: ParsedFrame, out: Buffer) => void);
  };
}

export interface FixtureResult {
  name: string;
  verdict: string;
  /** Empty when the fixture passed. */
  problems: string[];
  out: Buffer;
}

export class FixtureError extends XlvsError {
  constructor(readonly failed: FixtureResult[], total: number) {
    super('E_FIXTURE', `${failed.length} of ${total} fixtures failed:\n${failed.map((r) => `- ${r.name} (verdict ${r.verdict}):\n    ${r.problems.join('\n    ')}`).join('\n')}`);
  }
}

export interface RunnerOptions {
  /** Network namespace to run in, as a path (/run/netns/NAME); default: the caller's. */
  netns?: string;
}

export class FixtureRunner {
  private readonly runners = new Map<string, XdpTestRunner>();

  /** progs: program name -> fd of the loaded program. */
  constructor(progs: Record<string, number>, private readonly opts: RunnerOptions = {}) {
    for (const [name, fd] of Object.entries(progs)) this.runners.set(name, new XdpTestRunner(fd));
  }

  /** Runs every fixture (inside the namespace when one was given) and returns each result. */
  runAll(fixtures: readonly Fixture[]): FixtureResult[] {
    const go = (): FixtureResult[] => fixtures.map((f) => this.runOne(f));
    return this.opts.netns === undefined ? go() : inNetns(this.opts.netns, go);
  }

  /** Runs every fixture; throws FixtureError listing each failed one and why. */
  check(fixtures: readonly Fixture[]): FixtureResult[] {
    const results = this.runAll(fixtures);
    const failed = results.filter((r) => r.problems.length > 0);
    if (failed.length > 0) throw new FixtureError(failed, results.length);
    return results;
  }

  private runOne(f: Fixture): FixtureResult {
    const runner = this.runners.get(f.prog);
    if (runner === undefined) throw new InvalidArgumentError(`${f.name}: prog`, f.prog, `not one of ${[...this.runners.keys()].join(', ')}`);
    const input = Buffer.isBuffer(f.input) ? f.input : buildFrame(f.input);
    let ingressIfindex = 0;
    if (f.ingress !== undefined) {
      ingressIfindex = libc.if_nametoindex(f.ingress) as number;
      if (ingressIfindex === 0) throw new InvalidArgumentError(`${f.name}: ingress`, f.ingress, `no such interface in ${this.opts.netns ?? 'this namespace'}`);
    }
    const v = runner.run(input, input.length, { ingressIfindex });
    const out = Buffer.alloc(runner.outLength);
    out.set(runner.out.subarray(0, runner.outLength));
    const problems: string[] = [];
    if (verdictName(v) !== f.expect.verdict) problems.push(`verdict: expected ${f.expect.verdict}, got ${verdictName(v)}`);
    problems.push(...compareFrame(input, out, f.expect.frame));
    return { name: f.name, verdict: verdictName(v), problems, out };
  }
}

/** What is wrong with `out` given the expectation; checksums the input had right must stay right. */
export function compareFrame(input: Buffer, out: Buffer, want: Fixture['expect']['frame']): string[] {
  const problems: string[] = [];
  const got = parseFrame(out);
  if (typeof want === 'function') {
    try {
      want(got, out);
    } catch (e) {
      problems.push(`frame check: ${e instanceof Error ? e.message : String(e)}`);
    }
  } else if (want !== undefined) {
    const expected = want === 'unchanged' ? input : buildFrame(want);
    problems.push(...diff(parseFrame(expected), got, ''));
    if (problems.length === 0 && (expected.length !== out.length || expected.some((b, i) => b !== out[i]))) {
      let i = 0;
      while (i < expected.length && expected[i] === out[i]) i++;
      problems.push(`bytes: first difference at offset ${i} (expected ${expected.length} bytes, got ${out.length})`);
    }
  }
  const before = new Set(badChecksums(parseFrame(input)));
  for (const path of badChecksums(got)) if (!before.has(path)) problems.push(`${path}: invalid in the output`);
  return problems;
}

/** Field-by-field differences of two parsed frames (plain JSON-like trees). */
export function diff(expected: unknown, actual: unknown, path: string): string[] {
  if (Object.is(expected, actual)) return [];
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
  if (isObj(expected) && isObj(actual) && Array.isArray(expected) === Array.isArray(actual)) {
    const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
    return [...keys].flatMap((k) => diff(expected[k], actual[k], path === '' ? k : `${path}.${k}`));
  }
  return [`${path || '(frame)'}: expected ${show(expected)}, got ${show(actual)}`];
}

function show(v: unknown): string {
  if (v === undefined) return '(absent)';
  if (typeof v === 'number' && v > 9) return `${v} (0x${v.toString(16)})`;
  const s = JSON.stringify(v);
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
}

/**
 * The real object loaded for test runs, not attached anywhere: its maps pinned in a fresh
 * directory under /sys/fs/bpf (removed by close()), typed like the daemon's, so a test can
 * configure services with the Reconciler and run fixtures on the programs.
 */
export class TestDataplane {
  private constructor(
    readonly pinDir: string,
    private readonly obj: BpfObject,
    readonly maps: Maps,
  ) {}

  /** flowEntries: the connection table's size (default: the object's, XLVS_MAX_FLOWS). */
  static load(objectPath: string, pinDir: string, flowEntries?: number): TestDataplane {
    if (!/^\/sys\/fs\/bpf\/xlvs-test-[\w-]+$/.test(pinDir)) throw new InvalidArgumentError('pinDir', pinDir, 'must be /sys/fs/bpf/xlvs-test-<id>');
    ensureBpffs(pinDir);
    const obj = BpfObject.open(objectPath, { pinRoot: pinDir });
    try {
      obj.verifyAbi(abi.ABI_LAYOUT);
      if (flowEntries !== undefined) obj.setMaxEntries('flows', flowEntries);
      obj.load();
      const maps = openMaps(obj);
      return new TestDataplane(pinDir, obj, maps);
    } catch (e) {
      obj.close();
      unpin(pinDir);
      throw e;
    }
  }

  progFd(name: string): number {
    return this.obj.programFd(name);
  }

  /** A map's fd by name (the ring buffers, which have no typed handle: sync_ring, nh_misses). */
  mapFd(name: string): number {
    return this.obj.mapFd(name);
  }

  close(): void {
    this.obj.close();
    unpin(this.pinDir);
  }
}
