// SPDX-License-Identifier: Apache-2.0
// What the capability report decides (host/capabilities.ts): SYN checks run only when every
// capability they need was found, and the first one missing is the reason given; and how
// `xlvsctl capabilities` renders a report.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CAPABILITY_NAMES, NEEDED_BY, synChecksProblem, type Capabilities, type CapabilityName } from '../../src/host/capabilities.js';
import { formatCapabilities } from '../../src/api/convert-capabilities.js';

function report(missing: Partial<Record<CapabilityName, string>>): Capabilities {
  return {
    kernel: '6.18.44-test',
    list: CAPABILITY_NAMES.map((name) => ({ name, available: missing[name] === undefined, detail: missing[name] ?? 'works', neededBy: NEEDED_BY[name] })),
  };
}

describe('synChecksProblem', () => {
  it('is undefined when everything SYN checks need is there, whatever else is missing', () => {
    assert.equal(synChecksProblem(report({})), undefined);
    assert.equal(synChecksProblem(report({ xdp_live_frames: 'BPF_F_TEST_XDP_LIVE_FRAMES refused: EPERM (1)', bpf_jit: 'programs run interpreted' })), undefined);
  });

  it('names the first missing capability SYN checks need, with what the kernel said', () => {
    assert.equal(synChecksProblem(report({ packet_socket: 'socket(AF_PACKET, SOCK_RAW) failed: errno 1' })), 'packet_socket: socket(AF_PACKET, SOCK_RAW) failed: errno 1');
    assert.equal(synChecksProblem(report({ fib_lookup_src: 'refused', packet_socket: 'eperm' })), 'fib_lookup_src: refused');
    assert.equal(synChecksProblem(report({ prog_test_run: 'BPF_PROG_TEST_RUN refused' })), 'prog_test_run: BPF_PROG_TEST_RUN refused');
  });

  it('treats a capability never asked about as missing', () => {
    const r = report({});
    r.list = r.list.filter((c) => c.name !== 'fib_lookup_src');
    assert.equal(synChecksProblem(r), 'fib_lookup_src: not probed');
  });
});

describe('formatCapabilities', () => {
  it('lists every capability, explains a missing one, and says whether SYN checks run', () => {
    const r = { ...report({ xdp_live_frames: 'BPF_F_TEST_XDP_LIVE_FRAMES refused: EPERM (1)' }), synChecks: { configured: true, running: true } };
    assert.equal(formatCapabilities(r), [
      'kernel 6.18.44-test',
      'bpf_jit          yes  works',
      'prog_test_run    yes  works',
      'fib_lookup_src   yes  works',
      'packet_socket    yes  works',
      'xdp_live_frames  no   BPF_F_TEST_XDP_LIVE_FRAMES refused: EPERM (1)',
      `${' '.repeat(22)}needed by: ${NEEDED_BY.xdp_live_frames}`,
      'syn checks: running',
      '',
    ].join('\n'));
  });

  it('says when SYN checks are off by configuration', () => {
    const r = { ...report({}), synChecks: { configured: false, running: false } };
    assert.match(formatCapabilities(r), /^syn checks: off \(health\.syn_checks: false\): tcp checks use connect\(\)$/m);
  });
});
