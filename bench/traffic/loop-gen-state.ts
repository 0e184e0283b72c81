// SPDX-License-Identifier: Apache-2.0
// The packet loop's bookkeeping, the pure part of bench/traffic/loop-gen.ts: struct gen_state of
// bench/bpf/bench_gen.bpf.c decoded, the bounds of one run (the kernel's deadline, the wall clock the
// caller waits at most, when a silent loop counts as stalled) and what a run reports.

import { InvalidArgumentError } from '../../src/errors.js';

/** struct gen_state of bench/bpf/bench_gen.bpf.c, [member, offset, size]: checked against the object's BTF at load. */
export const GEN_STATE_LAYOUT: { size: number; members: [string, number, number][] } = {
  size: 64,
  members: [['next', 0, 8], ['first_ns', 8, 8], ['last_ns', 16, 8], ['rounds', 24, 8], ['foreign', 32, 8], ['cpus', 40, 8], ['ended', 48, 4], ['why', 52, 4], ['skip', 56, 4], ['pad', 60, 4]],
};
const stAt = (member: string): number => GEN_STATE_LAYOUT.members.find(([m]) => m === member)![1];
/** struct gen_state: byte offsets, from GEN_STATE_LAYOUT. */
const ST = { next: stAt('next'), firstNs: stAt('first_ns'), lastNs: stAt('last_ns'), rounds: stAt('rounds'), foreign: stAt('foreign'), cpus: stAt('cpus'), ended: stAt('ended'), why: stAt('why') } as const;
export const GEN_STATE_SIZE = GEN_STATE_LAYOUT.size;
/** enum gen_end. */
export const GEN_END = { count: 1, deadline: 2, stopped: 4 } as const;
export type GenEnd = keyof typeof GEN_END;

/** The longest run: a benchmark turn is seconds; this only catches a unit mistake. */
export const MAX_RUN_SECONDS = 600;
/** A run given only a count gets this long plus count / MIN_RATE (the slowest paced loop seen is 20× faster). */
const BASE_SECONDS = 1;
const MIN_RATE = 100_000;
/** Beyond the kernel's deadline, how long the caller waits for the loop to say it ended. */
const WALL_SLACK_NS = 2e9;
/** No round for this long, before the end: the seed was lost (or never arrived). */
export const STALL_NS = 1e9;

export interface GenState {
  /** Sequence number of the next copy: frames generated = min(next, count). */
  next: number;
  firstNs: number;
  lastNs: number;
  rounds: number;
  foreign: number;
  /** Bit i: CPU i ran rounds. */
  cpus: number;
  /** Seeds dropped (the loop ended); why is enum gen_end bits. */
  ended: number;
  why: number;
}

export function decodeGenState(b: Buffer, o: number): GenState {
  const n = (off: number): number => Number(b.readBigUInt64LE(o + off));
  return {
    next: n(ST.next), firstNs: n(ST.firstNs), lastNs: n(ST.lastNs), rounds: n(ST.rounds), foreign: n(ST.foreign), cpus: n(ST.cpus),
    ended: b.readUInt32LE(o + ST.ended), why: b.readUInt32LE(o + ST.why),
  };
}

export interface RunBounds {
  /** The loop program's deadline, from its first round. */
  maxNs: number;
  /** How long send() waits for the end at most. */
  wallNs: number;
  stallNs: number;
}

/** Checks a run's count and seconds (default: enough for count at a slow rate) and derives its bounds. */
export function runBounds(count: number, seconds?: number): RunBounds {
  if (!Number.isSafeInteger(count) || count < 1) throw new InvalidArgumentError('count', count, `must be an integer 1..${Number.MAX_SAFE_INTEGER}`);
  const s = seconds ?? Math.min(MAX_RUN_SECONDS, BASE_SECONDS + count / MIN_RATE);
  if (!Number.isFinite(s) || s <= 0 || s > MAX_RUN_SECONDS) throw new InvalidArgumentError('seconds', seconds, `must be a number of seconds in (0, ${MAX_RUN_SECONDS}]`);
  const maxNs = Math.round(s * 1e9);
  return { maxNs, wallNs: maxNs + WALL_SLACK_NS, stallNs: STALL_NS };
}

export interface LoopRun {
  /** Frames generated and handed to the target device (a full ring there refuses some: see xdp_xmit_errors). */
  sent: number;
  /** Kernel clock from the loop's first round to its last (the one that ended it). */
  elapsedNs: number;
  /** Wall clock of the whole send(), from here: seeding and noticing the end included. */
  wallNs: number;
  rounds: number;
  ended: GenEnd;
  /** The CPUs the loop ran on (the router's NAPI, fed by it, runs there too). */
  cpus: number[];
  /** Frames on the loop device that were not the seed, dropped. */
  foreign: number;
}

export function endOf(why: number): GenEnd {
  if ((why & GEN_END.count) !== 0) return 'count';
  if ((why & GEN_END.deadline) !== 0) return 'deadline';
  if ((why & GEN_END.stopped) !== 0) return 'stopped';
  throw new InvalidArgumentError('gen_state.why', why, 'names no end (the loop has not ended)');
}

export function cpuList(mask: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 64 && 2 ** i <= mask; i++) if (Math.floor(mask / 2 ** i) % 2 === 1) out.push(i);
  return out;
}

/** What a run that has ended reports. */
export function runResult(st: GenState, count: number, wallNs: number): LoopRun {
  return {
    sent: Math.min(st.next, count), elapsedNs: st.lastNs - st.firstNs, wallNs, rounds: st.rounds, ended: endOf(st.why),
    cpus: cpuList(st.cpus), foreign: st.foreign,
  };
}

/** Frames per second of a run, by the kernel's clock. */
export function loopRate(r: LoopRun): number {
  return r.elapsedNs > 0 ? r.sent / (r.elapsedNs / 1e9) : 0;
}

/** Sums a veth's `ethtool -S` counters tx_queue_N_xdp_xmit and tx_queue_N_xdp_xmit_errors over its queues. */
export function parseVethXmit(text: string): { xmit: number; xmitErrors: number } {
  let xmit = 0;
  let xmitErrors = 0;
  let seen = false;
  for (const m of text.matchAll(/^\s*tx_queue_\d+_xdp_xmit(_errors)?:\s*(\d+)\s*$/gm)) {
    seen = true;
    if (m[1] === undefined) xmit += Number(m[2]);
    else xmitErrors += Number(m[2]);
  }
  if (!seen) throw new InvalidArgumentError('ethtool -S', text.slice(0, 80), 'has no tx_queue_N_xdp_xmit counters (not a veth?)');
  return { xmit, xmitErrors };
}
