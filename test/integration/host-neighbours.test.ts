// SPDX-License-Identifier: Apache-2.0
// Neighbours and route lookups over netlink (src/host/neighbours.ts, routes.ts) against `ip` in
// a namespace of the test's own: a managed entry we make is the entry `ip neigh replace ...
// managed` makes (ip -d -j neigh show), our listing is ip's, our route lookup is ip's, and the
// kernel's refusals come back naming the request and the errno. Then Neighbours, the daemon's
// upkeep (src/dataplane/neighbours.ts), over the same socket.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { HostNetns, waitFor } from './host-netns.js';
import type { Netlink } from '../../src/host/netlink.js';
import { deleteNeighbour, listNeighbours, replaceManagedNeighbour } from '../../src/host/neighbours.js';
import { routeGet } from '../../src/host/routes.js';
import { NetlinkError } from '../../src/errors.js';
import { parseNeighbours, parseRouteGet } from '../../testing/ip-json.js';
import { Neighbours, netlinkNeighbours } from '../../src/dataplane/neighbours.js';

let ns: HostNetns;
let nl: Netlink;

before(() => {
  ns = HostNetns.create();
  nl = ns.netlink();
});

after(() => ns?.destroy());

type Row = Record<string, unknown>;
const rowOf = (rows: Row[], dst: string): Row | undefined => rows.find((r) => r.dst === dst);
/** Everything ip -d says about an entry except which address it is for. */
const withoutDst = (r: Row | undefined): Row => Object.fromEntries(Object.entries(r ?? {}).filter(([k]) => k !== 'dst'));
const reachable = (family: 4 | 6, dst: string) => () => (rowOf(ns.ipJson('-d', `-${family}`, 'neigh', 'show', 'dev', 'a0'), dst)?.state as string[] | undefined)?.[0] === 'REACHABLE';

function expectNetlinkError(fn: () => unknown, request: RegExp, errnoName: string, kernelSays?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof NetlinkError, `a NetlinkError, got ${String(e)}`);
    assert.equal(e.code, 'E_NETLINK');
    assert.match(e.message, request);
    assert.match(e.message, new RegExp(`failed: ${errnoName} \\(errno ${e.errno}\\)`));
    if (kernelSays) assert.match(e.kernelMessage, kernelSays);
    return true;
  });
}

for (const [family, ours, ips] of [[4, '10.9.0.2', '10.9.0.3'], [6, 'fd09::2', 'fd09::3']] as const) {
  test(`IPv${family}: a managed entry made over netlink is the one ip neigh replace ... managed makes`, async () => {
    replaceManagedNeighbour(nl, ours, 'a0');
    ns.ip('neigh', 'replace', ips, 'dev', 'a0', 'managed');
    // Managed entries resolve by themselves, with no traffic.
    await waitFor(`${ours} REACHABLE`, reachable(family, ours));
    await waitFor(`${ips} REACHABLE`, reachable(family, ips));
    const rows = ns.ipJson('-d', `-${family}`, 'neigh', 'show', 'dev', 'a0');
    assert.equal(rowOf(rows, ours)?.managed, null, 'ip sees ours as managed');
    assert.deepEqual(withoutDst(rowOf(rows, ours)), withoutDst(rowOf(rows, ips)));

    // `use` (the kick of a FAILED entry) keeps it managed and resolved.
    replaceManagedNeighbour(nl, ours, 'a0', { use: true });
    assert.deepEqual(withoutDst(rowOf(ns.ipJson('-d', `-${family}`, 'neigh', 'show', 'dev', 'a0'), ours)), withoutDst(rowOf(rows, ips)));
  });
}

test('listNeighbours is ip -j neigh show nud all, both families; deleteNeighbour is ip neigh del', () => {
  ns.ip('neigh', 'add', '10.9.0.20', 'lladdr', '02:00:00:00:00:14', 'dev', 'a0', 'nud', 'permanent');
  ns.ip('neigh', 'add', '10.9.0.21', 'lladdr', '02:00:00:00:00:15', 'dev', 'a0', 'nud', 'noarp');
  const ip = [4, 6].flatMap((f) => parseNeighbours(ns.ip('-j', `-${f}`, 'neigh', 'show', 'nud', 'all', 'dev', 'a0')));
  const ours = listNeighbours(nl, 'a0').map((r) => ({ address: r.address, ...(r.lladdr ? { lladdr: r.lladdr } : {}), managed: r.managed, states: r.states }));
  const key = (e: { address: string }) => e.address;
  // States are the kernel's of the moment; addresses, MACs and the managed flag must agree.
  const strip = (l: typeof ours) => l.map(({ states: _s, ...rest }) => rest).sort((a, b) => key(a).localeCompare(key(b)));
  assert.deepEqual(strip(ours), strip(ip));
  assert.ok(ours.some((e) => e.address === '10.9.0.21' && e.states[0] === 'NOARP'), 'an operator\'s noarp entry is listed (ip hides it without nud all)');

  deleteNeighbour(nl, '10.9.0.20', 'a0');
  assert.equal(rowOf(ns.ipJson('-4', 'neigh', 'show', 'nud', 'all', 'dev', 'a0'), '10.9.0.20'), undefined);
  expectNetlinkError(() => deleteNeighbour(nl, '10.9.0.20', 'a0'), /^ip neigh del 10\.9\.0\.20 dev a0 \(RTM_DELNEIGH\)/, 'ENOENT');
});

test('a neighbour on a missing device: the lookup by name, or the kernel for a stale index, says ENODEV', () => {
  expectNetlinkError(() => replaceManagedNeighbour(nl, '10.9.0.2', 'nosuch0'), /^ip link show dev nosuch0 \(RTM_GETLINK\)/, 'ENODEV');
  expectNetlinkError(() => replaceManagedNeighbour(nl, '10.9.0.2', { index: 9999, name: 'gone0' }), /^ip neigh replace 10\.9\.0\.2 dev gone0 managed \(RTM_NEWNEIGH\)/, 'ENODEV');
});

test('routeGet is ip route get: on the link, through a gateway (both families), and no route at all', () => {
  ns.ip('route', 'add', '10.50.0.0/16', 'via', '10.9.0.254', 'dev', 'a0');
  ns.ip('-6', 'route', 'add', '2001:db8:9::/48', 'via', 'fd09::fe', 'dev', 'a0');
  for (const [address, oif] of [['10.9.0.7', 'a0'], ['10.50.0.9', 'a0'], ['fd09::7', 'a0'], ['2001:db8:9::1', undefined]] as const) {
    const argv = ['-j', 'route', 'get', address, ...(oif ? ['oif', oif] : [])];
    const ip = parseRouteGet(ns.ip(...argv), address);
    const r = routeGet(nl, address, oif);
    assert.deepEqual({ nexthop: r.nexthop, dev: r.dev }, ip, `ip ${argv.join(' ')}`);
  }
  assert.equal(routeGet(nl, '10.50.0.9').gateway, '10.9.0.254');
  expectNetlinkError(() => routeGet(nl, '192.0.2.1'), /^ip -4 route get 192\.0\.2\.1 \(RTM_GETROUTE\)/, 'ENETUNREACH');
});

test('Neighbours (the daemon\'s upkeep) over netlink: the reals\' next hops become managed and resolve; unneeded ones go', async () => {
  const n = new Neighbours({ dev: 'a0', log: pino({ level: 'silent' }), host: netlinkNeighbours(nl) });
  // The entries of the first tests go, so that this run starts from none.
  for (const a of ['10.9.0.3', 'fd09::3']) ns.ip('neigh', 'del', a, 'dev', 'a0');
  // 10.50.0.9 is behind 10.9.0.254, which nobody answers: its entry is made but stays unresolved.
  const reals = [{ address: '10.9.0.3', family: 4 as const }, { address: 'fd09::3', family: 6 as const }, { address: '10.50.0.9', family: 4 as const }];
  const r1 = await n.refresh(reals);
  assert.deepEqual(r1, { added: ['10.9.0.254', '10.9.0.3', 'fd09::3'], kicked: [], dropped: [] });
  await waitFor('10.9.0.3 REACHABLE', reachable(4, '10.9.0.3'));
  await waitFor('fd09::3 REACHABLE', reachable(6, 'fd09::3'));
  assert.equal(rowOf(ns.ipJson('-4', 'neigh', 'show', 'dev', 'a0'), '10.9.0.254')?.managed, null);

  const r2 = await n.refresh([reals[0]!]);
  assert.deepEqual(r2.dropped, ['10.9.0.254', 'fd09::3']);
  assert.deepEqual(n.managed(), ['10.9.0.3']);
  assert.equal(rowOf(ns.ipJson('-6', 'neigh', 'show', 'dev', 'a0'), 'fd09::3'), undefined);
  await n.stop();
});
