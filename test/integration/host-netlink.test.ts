// SPDX-License-Identifier: Apache-2.0
// The netlink socket itself (src/host/netlink.ts) against the kernel: it works on the namespace
// it was opened in whatever namespace the thread is in later, a request the kernel never
// answers fails within its bound (ETIMEDOUT) and leaves the socket usable, and a closed socket
// says so.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { HostNetns } from './host-netns.js';
import { Netlink } from '../../src/host/netlink.js';
import { linkByName, linkName } from '../../src/host/links.js';
import { listAddresses } from '../../src/host/addresses.js';
import { InvalidArgumentError, NetlinkError } from '../../src/errors.js';

let ns: HostNetns;

before(() => {
  ns = HostNetns.create();
});

after(() => ns?.destroy());

test('a socket opened in a namespace works on that namespace while the thread is back in its own', () => {
  const nl = ns.netlink();
  const a0 = linkByName(nl, 'a0');
  const ip = ns.ipJson('link', 'show', 'dev', 'a0')[0]!;
  assert.equal(a0.index, ip.ifindex);
  assert.equal(linkName(nl, a0.index), 'a0');
  assert.deepEqual(listAddresses(nl, 'a0', 4).map((a) => `${a.address}/${a.prefixlen}`), ['10.9.0.1/24']);
  // The thread's own namespace has no a0: a socket opened here does not see the test's.
  const here = Netlink.open();
  try {
    assert.throws(() => linkByName(here, 'a0'), (e: unknown) => e instanceof NetlinkError && e.errno === 19);
  } finally {
    here.close();
  }
});

test('a request the kernel never answers fails within its bound, and the socket goes on working', () => {
  const nl = ns.netlink({ timeoutMs: 300 });
  // A dump of type NLMSG_NOOP without NLM_F_ACK: the kernel takes it and answers nothing.
  const t0 = Date.now();
  assert.throws(() => nl.dump({ what: 'noop', type: 1, flags: 0, header: Buffer.alloc(0) }),
    (e: unknown) => e instanceof NetlinkError && e.errno === 110 && /^noop \(netlink type 1\) failed: ETIMEDOUT \(errno 110\): no complete answer within 300 ms$/.test(e.message));
  const took = Date.now() - t0;
  assert.ok(took >= 300 && took < 300 + 500 + 200, `bounded: the deadline plus at most one receive wait (took ${took} ms)`);
  assert.equal(linkByName(nl, 'a0').name, 'a0', 'the next request gets its own answer');
});

test('a closed socket refuses requests; a bad timeout is refused up front', () => {
  const nl = ns.netlink();
  nl.close();
  nl.close();
  assert.throws(() => linkByName(nl, 'a0'), (e: unknown) => e instanceof NetlinkError && e.code === 'E_NETLINK' && /^ip link show dev a0 \(RTM_GETLINK\) failed: EBADF \(errno 9\): the netlink socket is closed$/.test(e.message));
  assert.throws(() => Netlink.open({ timeoutMs: 0 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'timeoutMs');
});
