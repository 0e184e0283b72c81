// SPDX-License-Identifier: Apache-2.0
// Asks the kernel and host what capabilities.ts lists, once, at xlvsd's start: each question is
// a real attempt (a test run of a tiny program of bpf/xlvs_caps.bpf.c, a socket opened), never
// a version compare.

import { release } from 'node:os';
import { BpfObject } from '../kernel/object.js';
import { progInfoOf } from '../kernel/obj-info.js';
import { liveFramesErrno, XdpTestRunner, XDP } from '../kernel/test-run.js';
import { RawFrames } from './raw-frames.js';
import { XlvsError } from '../errors.js';
import { NEEDED_BY, type Capabilities, type Capability, type CapabilityName } from './capabilities.js';

/** The loopback device: every namespace has it, at ifindex 1. */
const LOOPBACK = 1;

const ERRNO_NAMES: Record<number, string> = { 1: 'EPERM', 13: 'EACCES', 22: 'EINVAL', 95: 'EOPNOTSUPP', 524: 'ENOTSUPP' };
const errnoName = (e: number): string => `${ERRNO_NAMES[e] ?? 'errno'} (${e})`;

function capability(name: CapabilityName, ask: () => string): Capability {
  try {
    return { name, available: true, detail: ask(), neededBy: NEEDED_BY[name] };
  } catch (e) {
    if (!(e instanceof CapabilityMissing)) throw e;
    return { name, available: false, detail: e.message, neededBy: NEEDED_BY[name] };
  }
}

/** A question answered "no" (as opposed to a failure to ask it, which is thrown). */
class CapabilityMissing extends XlvsError {
  constructor(detail: string) {
    super('E_CAPABILITY_MISSING', detail);
  }
}

/**
 * Whether the kernel JIT-compiled a loaded program. Asked of the program rather than of
 * net.core.bpf_jit_enable, which only the initial network namespace shows.
 */
function jit(progFd: number): string {
  // The head of struct bpf_prog_info is enough to see whether a program was JIT-compiled.
  const jited = progInfoOf(progFd, 'prog info').jited_prog_len;
  if (jited === 0) throw new CapabilityMissing('programs run interpreted: the kernel did not JIT-compile one (net.core.bpf_jit_enable = 0, or no JIT for this architecture)');
  return `programs are JIT-compiled (${jited} bytes of machine code for a two-instruction program)`;
}

/**
 * Asks every question, in the calling thread's network namespace. capsObject is
 * build/xlvs_caps.bpf.o; failing to load it is an error (the install is broken), not a "no".
 */
export function probeCapabilities(capsObject: string): Capabilities {
  const obj = BpfObject.open(capsObject, { pinRoot: '/sys/fs/bpf' }); // nothing of it is pinned
  try {
    obj.load();
    const drop = obj.programFd('xlvs_caps_drop');
    const runOn = (fd: number): number => {
      try {
        return new XdpTestRunner(fd).run(Buffer.alloc(60), 60, { ingressIfindex: LOOPBACK });
      } catch (e) {
        throw new CapabilityMissing(`BPF_PROG_TEST_RUN refused: ${(e as Error).message}`);
      }
    };
    const list = [
      capability('bpf_jit', () => jit(drop)),
      capability('prog_test_run', () => {
        const v = runOn(drop);
        if (v !== XDP.DROP) throw new CapabilityMissing(`a test run returned ${v}, not the program's XDP_DROP`);
        return 'plain XDP test runs work';
      }),
      capability('fib_lookup_src', () => {
        if (runOn(obj.programFd('xlvs_caps_fib_src')) !== XDP.PASS) throw new CapabilityMissing('bpf_fib_lookup refuses BPF_FIB_LOOKUP_SRC (EINVAL; Linux before 6.7)');
        return 'bpf_fib_lookup takes BPF_FIB_LOOKUP_SRC';
      }),
      capability('packet_socket', () => {
        try {
          new RawFrames({ ifindex: LOOPBACK, batch: 1, frameMax: 64 }).close();
        } catch (e) {
          throw new CapabilityMissing((e as Error).message);
        }
        return 'AF_PACKET raw socket with PACKET_QDISC_BYPASS';
      }),
      capability('xdp_live_frames', () => {
        const e = liveFramesErrno(drop, LOOPBACK);
        if (e !== 0) throw new CapabilityMissing(`BPF_F_TEST_XDP_LIVE_FRAMES refused: ${errnoName(e)}`);
        return 'BPF_F_TEST_XDP_LIVE_FRAMES accepted';
      }),
    ];
    return { kernel: release(), list };
  } finally {
    obj.close();
  }
}
