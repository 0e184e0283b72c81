// SPDX-License-Identifier: Apache-2.0
// The exec health probe (issue 5), keepalived's MISC_CHECK with misc_dynamic: run a program with
// the real's address and port appended to its argv and in its environment; exit 0 = up, 1 = down,
// 2..255 = up with weight code-2 (down without `dynamic`). No shell ever: argv goes to execve as
// given. The program leads its own process group so a timeout or abort kills everything it
// started (a script's `sleep 30 &` too), and the verdict comes at the deadline, not when the
// group is finally gone. A daemon-wide ExecLimiter caps how many run at once.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { InvalidArgumentError } from '../../errors.js';
import { MAX_WEIGHT } from '../types.js';
import type { ExecLimiter } from './exec-limit.js';
import { type ProbeResult, type ProbeTarget, MAX_PROBE_TIMEOUT_MS, checkTarget, errorReason } from './index.js';

export interface ExecPlan {
  readonly command: readonly string[]; // argv: command[0] an absolute path to an executable file
  readonly timeoutMs: number; // covers waiting for a slot and running
  readonly env: Readonly<Record<string, string>>; // added to the minimal environment
  readonly dynamic: boolean; // misc_dynamic: exit 2..255 is up with weight code-2
}

export type ExecTarget = ProbeTarget & { readonly vip?: string; readonly vipPort?: number; readonly service?: string };

/** Bytes of stdout and of stderr kept per run; the rest is read and dropped so the child never blocks. */
export const EXEC_OUTPUT_BYTES = 4096;
/** The whole PATH a check sees: the daemon's environment (credentials, sockets) is not inherited. */
export const EXEC_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Set by xlvs for every run; a plan may not override them. */
export const EXEC_RESERVED_ENV = ['XLVS_REAL_ADDRESS', 'XLVS_REAL_PORT', 'XLVS_VIP', 'XLVS_VIP_PORT', 'XLVS_SERVICE'] as const;
/** argv entries beyond this are a mistake in the config, not a check. */
export const MAX_EXEC_ARGS = 256;
/** After the program exits, how long its stdio may take to drain before the verdict is given anyway. */
const EXIT_DRAIN_MS = 200;
/** After a SIGKILL, how long the slot stays held waiting for the program to be reaped. */
const KILL_REAP_MS = 1000;
/** The part of an output line that goes into a reason. */
const REASON_LINE_CHARS = 200;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PLAN_KEYS = new Set(['command', 'timeoutMs', 'env', 'dynamic']);

const log = pino({ level: process.env.XLVS_LOG_LEVEL ?? 'info', base: { svc: 'xlvsd', part: 'health-exec' } });

function noNul(field: string, value: string): string {
  if (value.includes('\0')) throw new InvalidArgumentError(field, value, 'must not contain a NUL character');
  return value;
}

function planProgram(field: string, path: unknown): string {
  if (typeof path !== 'string' || path === '') throw new InvalidArgumentError(field, path, 'must be a non-empty string');
  noNul(field, path);
  if (!isAbsolute(path)) throw new InvalidArgumentError(field, path, 'must be an absolute path (no PATH lookup, no shell)');
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (err) {
    throw new InvalidArgumentError(field, path, `must be an existing executable file (${errorReason('stat', err)})`);
  }
  if (!isFile) throw new InvalidArgumentError(field, path, 'must be a regular file');
  try {
    accessSync(path, fsConstants.X_OK);
  } catch (err) {
    throw new InvalidArgumentError(field, path, `must be executable (${errorReason('access', err)})`);
  }
  return path;
}

function planCommand(field: string, command: unknown): string[] {
  if (!Array.isArray(command) || command.length === 0) {
    throw new InvalidArgumentError(field, command, 'must be a non-empty array of strings (argv)');
  }
  if (command.length > MAX_EXEC_ARGS) {
    throw new InvalidArgumentError(field, command.length, `must have at most ${MAX_EXEC_ARGS} entries`);
  }
  const argv = [planProgram(`${field}[0]`, command[0])];
  for (let i = 1; i < command.length; i++) {
    const arg: unknown = command[i];
    if (typeof arg !== 'string') throw new InvalidArgumentError(`${field}[${i}]`, arg, 'must be a string');
    argv.push(noNul(`${field}[${i}]`, arg));
  }
  return argv;
}

function planEnv(field: string, env: unknown): Record<string, string> {
  if (env === undefined) return {};
  if (typeof env !== 'object' || env === null || Array.isArray(env)) {
    throw new InvalidArgumentError(field, env, 'must be a map of names to strings');
  }
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env as Record<string, unknown>)) {
    if (!ENV_NAME.test(name)) throw new InvalidArgumentError(`${field}.${name}`, name, 'name must match [A-Za-z_][A-Za-z0-9_]*');
    if ((EXEC_RESERVED_ENV as readonly string[]).includes(name)) {
      throw new InvalidArgumentError(`${field}.${name}`, name, 'is set by xlvs for every run');
    }
    if (typeof value !== 'string') throw new InvalidArgumentError(`${field}.${name}`, value, 'must be a string');
    out[name] = noNul(`${field}.${name}`, value);
  }
  return out;
}

/**
 * Checks untrusted exec options (config, gRPC) once, so each run only spawns. `field` prefixes
 * every field name in errors ("services[0].check.command[0]").
 */
export function planExec(opts: unknown, field = 'check'): ExecPlan {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new InvalidArgumentError(field, opts, 'must be an object');
  }
  const raw = opts as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!PLAN_KEYS.has(key)) throw new InvalidArgumentError(`${field}.${key}`, raw[key], 'unknown option');
  }
  const command = planCommand(`${field}.command`, raw.command);
  const t = raw.timeoutMs;
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > MAX_PROBE_TIMEOUT_MS) {
    throw new InvalidArgumentError(`${field}.timeoutMs`, t, `must be an integer from 1 to ${MAX_PROBE_TIMEOUT_MS}`);
  }
  const dynamic = raw.dynamic === undefined ? true : raw.dynamic;
  if (typeof dynamic !== 'boolean') throw new InvalidArgumentError(`${field}.dynamic`, dynamic, 'must be a boolean');
  return Object.freeze({
    command: Object.freeze(command),
    timeoutMs: t,
    env: Object.freeze(planEnv(`${field}.env`, raw.env)),
    dynamic,
  });
}

/** Keeps the first `limit` bytes of a stream and counts the rest, which it drops. */
export class OutputHead {
  private readonly buf: Buffer;
  private kept = 0;
  total = 0;

  constructor(readonly limit = EXEC_OUTPUT_BYTES) {
    this.buf = Buffer.alloc(limit);
  }

  push(chunk: Buffer): void {
    this.total += chunk.length;
    const room = this.limit - this.kept;
    if (room <= 0) return;
    const take = Math.min(room, chunk.length);
    this.buf.set(chunk.subarray(0, take), this.kept);
    this.kept += take;
  }

  /** The first non-empty line, control characters replaced, cut for a log line. */
  firstLine(): string {
    const text = this.buf.subarray(0, this.kept).toString('utf8');
    for (const line of text.split('\n')) {
      // eslint-disable-next-line no-control-regex
      const clean = line.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
      if (clean !== '') return clean.length > REASON_LINE_CHARS ? `${clean.slice(0, REASON_LINE_CHARS)}…` : clean;
    }
    return '';
  }
}

/**
 * The verdict on how the program ended. A failure's reason carries the first line of stderr, or
 * of stdout when stderr is empty (Nagios-style plugins report on stdout).
 */
export function exitVerdict(
  code: number | null,
  signal: NodeJS.Signals | null,
  dynamic: boolean,
  stderr: OutputHead,
  stdout: OutputHead,
): Omit<ProbeResult, 'ms'> {
  const detail = (): string => {
    const line = stderr.firstLine() || stdout.firstLine();
    return line === '' ? '' : `: ${line}`;
  };
  if (code === null) return { ok: false, reason: `killed by ${signal ?? 'an unknown signal'}${detail()}` };
  if (code === 0) return { ok: true, reason: 'exit 0' };
  if (code >= 2 && dynamic) {
    const weight = Math.min(code - 2, MAX_WEIGHT);
    return { ok: true, weight, reason: `exit ${code}: weight ${weight}` };
  }
  return { ok: false, reason: `exit ${code}${detail()}` };
}

function checkExecTarget(target: ExecTarget): void {
  checkTarget(target);
  if (target.vip !== undefined && isIP(target.vip) === 0) {
    throw new InvalidArgumentError('vip', target.vip, 'must be an IPv4 or IPv6 address literal');
  }
  if (target.vipPort !== undefined && (!Number.isInteger(target.vipPort) || target.vipPort < 0 || target.vipPort > 65535)) {
    throw new InvalidArgumentError('vipPort', target.vipPort, 'must be an integer from 0 to 65535');
  }
  if (target.service !== undefined && (typeof target.service !== 'string' || target.service.includes('\0'))) {
    throw new InvalidArgumentError('service', target.service, 'must be a string without NUL characters');
  }
}

function childEnv(target: ExecTarget, plan: ExecPlan): Record<string, string> {
  const env: Record<string, string> = { PATH: EXEC_PATH, ...plan.env };
  env.XLVS_REAL_ADDRESS = target.address;
  env.XLVS_REAL_PORT = String(target.port);
  if (target.vip !== undefined) env.XLVS_VIP = target.vip;
  if (target.vipPort !== undefined) env.XLVS_VIP_PORT = String(target.vipPort);
  if (target.service !== undefined) env.XLVS_SERVICE = target.service;
  return env;
}

/** SIGKILLs the group `pid` leads; false when nothing was left in it. */
function killGroup(pid: number | undefined, why: string): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, 'SIGKILL');
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false; // the group is already gone
    log.error({ err, pid, why }, 'exec check: could not kill its process group');
    return false;
  }
}

export async function probeExec(target: ExecTarget, plan: ExecPlan, limiter: ExecLimiter, signal: AbortSignal): Promise<ProbeResult> {
  checkExecTarget(target);
  const start = performance.now();
  const elapsed = (): number => Math.round((performance.now() - start) * 10) / 10;
  if (signal.aborted) return { ok: false, reason: 'aborted', ms: elapsed() };

  const slot = await limiter.acquire(plan.timeoutMs, signal);
  if (!slot.granted) {
    if (slot.why === 'aborted') return { ok: false, reason: 'aborted', ms: elapsed() };
    return { ok: false, reason: `timeout after ${plan.timeoutMs} ms waiting for an exec slot (${slot.running} running)`, ms: elapsed(), timedOut: true };
  }
  const remaining = plan.timeoutMs - (performance.now() - start);
  if (remaining <= 0 || signal.aborted) {
    slot.release();
    return signal.aborted ? { ok: false, reason: 'aborted', ms: elapsed() } : { ok: false, reason: `timeout after ${plan.timeoutMs} ms waiting for an exec slot`, ms: elapsed(), timedOut: true };
  }
  return run(target, plan, slot.release, signal, remaining, elapsed);
}

function run(
  target: ExecTarget,
  plan: ExecPlan,
  release: () => void,
  signal: AbortSignal,
  remainingMs: number,
  elapsed: () => number,
): Promise<ProbeResult> {
  return new Promise<ProbeResult>((resolve) => {
    const stdout = new OutputHead();
    const stderr = new OutputHead();
    let settled = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let drainTimer: ReturnType<typeof setTimeout> | undefined;
    let reapTimer: ReturnType<typeof setTimeout> | undefined;
    let child: ChildProcess | undefined;

    const finish = (verdict: Omit<ProbeResult, 'ms'>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearTimeout(drainTimer);
      signal.removeEventListener('abort', onAbort);
      // our ends of the pipes: a leftover that escaped the group must not keep them (and us) open
      child?.stdout?.destroy();
      child?.stderr?.destroy();
      resolve({ ...verdict, ms: elapsed() });
    };
    const fromExit = (): void => {
      if (exited) finish(exitVerdict(exited.code, exited.signal, plan.dynamic, stderr, stdout));
    };
    const stop = (reason: string, timedOut = false): void => {
      if (settled) return;
      if (exited) {
        fromExit(); // it had already ended; only its output was still draining
        return;
      }
      killGroup(child?.pid, reason);
      // the slot is held until the program is reaped, but not forever (a task stuck in D state)
      reapTimer = setTimeout(() => {
        log.warn({ pid: child?.pid, command: plan.command[0] }, 'exec check still not reaped after SIGKILL; its slot is released');
        release();
      }, KILL_REAP_MS);
      finish(timedOut ? { ok: false, reason, timedOut } : { ok: false, reason });
    };
    const onAbort = (): void => stop('aborted');
    const deadline = setTimeout(() => stop(`timeout after ${plan.timeoutMs} ms`, true), remainingMs);
    signal.addEventListener('abort', onAbort, { once: true });

    let proc: ChildProcess;
    try {
      proc = spawn(plan.command[0]!, [...plan.command.slice(1), target.address, String(target.port)], {
        detached: true, // its own process group, so one kill reaches every process it starts
        stdio: ['ignore', 'pipe', 'pipe'],
        env: childEnv(target, plan),
        shell: false,
      });
    } catch (err) {
      // spawn throws synchronously only for arguments planExec already refuses; reported, not hidden
      log.error({ err, command: plan.command[0] }, 'exec check: spawn threw');
      release();
      finish({ ok: false, reason: errorReason('spawn', err) });
      return;
    }
    child = proc;

    proc.stdout?.on('data', (c: Buffer) => stdout.push(c));
    proc.stderr?.on('data', (c: Buffer) => stderr.push(c));
    for (const stream of [proc.stdout, proc.stderr]) {
      stream?.on('error', (err) => log.warn({ err, command: plan.command[0] }, 'exec check: reading its output failed'));
    }
    proc.on('error', (err) => {
      if (proc.pid === undefined) {
        // never started (ENOENT, EACCES, EMFILE): no exit event is promised, so the slot goes back here
        clearTimeout(reapTimer); // an abort may have come first: there is nothing to wait for
        release();
        finish({ ok: false, reason: errorReason('spawn', err) });
      } else {
        log.warn({ err, pid: proc.pid, command: plan.command[0] }, 'exec check: child process error');
      }
    });
    proc.on('exit', (code, sig) => {
      exited = { code, signal: sig };
      clearTimeout(reapTimer);
      release();
      if (settled) return;
      // what it left behind in its group goes now: one leaked process per interval adds up
      if (killGroup(proc.pid, 'leftovers')) {
        log.warn({ pid: proc.pid, command: plan.command[0] }, 'exec check exited leaving processes in its group; killed them');
      }
      drainTimer = setTimeout(fromExit, EXIT_DRAIN_MS); // the deadline still bounds it too
    });
    proc.on('close', fromExit);
  });
}
