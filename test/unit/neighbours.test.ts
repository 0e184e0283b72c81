// SPDX-License-Identifier: Apache-2.0
// Neighbour upkeep: parsing iproute2's JSON (samples captured from `ip -j` on this kernel),
// the add/kick/drop plan, and the Neighbours class driving a scripted host that answers as
// `ip` would (its JSON, read by the same parsers) and records each call in ip's words. The real
// host, netlink, is tested against `ip` in test/integration/host-neighbours.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { isResolved, NeighbourError, planNeighbours } from '../../src/dataplane/neighbour-plan.js';
import { parseNeighbours, parseRouteGet } from '../../testing/ip-json.js';
import { Neighbours, type NeighbourHost } from '../../src/dataplane/neighbours.js';
import { familyOf } from '../../src/model/ip.js';

/** A host whose answers come from `answer(argv)`, given the `ip` command each call stands for. */
function scriptedHost(answer: (argv: string[]) => string): NeighbourHost {
  return {
    routeGet: (address, dev) => parseRouteGet(answer(['ip', '-j', `-${familyOf(address)}`, 'route', 'get', address, 'oif', dev]), address),
    list: (dev) => [...parseNeighbours(answer(['ip', '-j', '-4', 'neigh', 'show', 'dev', dev])), ...parseNeighbours(answer(['ip', '-j', '-6', 'neigh', 'show', 'dev', dev]))],
    replaceManaged: (address, dev, use) => void answer(['ip', 'neigh', 'replace', address, 'dev', dev, 'managed', ...(use ? ['use'] : [])]),
    remove: (address, dev) => void answer(['ip', 'neigh', 'del', address, 'dev', dev]),
  };
}

// Captured from `ip -j neigh show dev v0` (iproute2 6.1, kernel 6.18).
const NEIGH_SAMPLE =
  '[{"dst":"10.9.0.7","managed":null,"state":["INCOMPLETE"]},' +
  '{"dst":"10.9.0.2","lladdr":"c2:59:3b:5e:53:5b","managed":null,"state":["REACHABLE"]},' +
  '{"dst":"fe80::7852:55ff:fecf:220","lladdr":"7a:52:55:cf:02:20","state":["DELAY"]},' +
  '{"dst":"10.9.0.3","managed":null,"state":["FAILED"]}]';
const ROUTE_ONLINK = '[{"dst":"10.9.0.7","dev":"v0","prefsrc":"10.9.0.1","flags":[],"uid":0,"cache":[]}]';
const ROUTE_VIA_GW = '[{"dst":"10.50.0.9","gateway":"10.9.0.254","dev":"v0","prefsrc":"10.9.0.1","flags":[],"uid":0,"cache":[]}]';

test('parseNeighbours reads address, MAC, managed flag and states', () => {
  const e = parseNeighbours(NEIGH_SAMPLE);
  assert.deepEqual(e, [
    { address: '10.9.0.7', managed: true, states: ['INCOMPLETE'] },
    { address: '10.9.0.2', lladdr: 'c2:59:3b:5e:53:5b', managed: true, states: ['REACHABLE'] },
    { address: 'fe80::7852:55ff:fecf:220', lladdr: '7a:52:55:cf:02:20', managed: false, states: ['DELAY'] },
    { address: '10.9.0.3', managed: true, states: ['FAILED'] },
  ]);
  assert.deepEqual(e.map(isResolved), [false, true, true, false]);
  assert.deepEqual(parseNeighbours(''), [], 'no neighbours: ip prints nothing');
});

test('parseNeighbours refuses what is not iproute2 JSON, naming it', () => {
  assert.throws(() => parseNeighbours('10.9.0.2 lladdr aa:bb'), (e: unknown) => e instanceof NeighbourError && e.code === 'E_NEIGHBOUR' && /not JSON/.test(e.message));
  assert.throws(() => parseNeighbours('{"dst":"10.9.0.2"}'), /expected a JSON array/);
  assert.throws(() => parseNeighbours('[{"dst":"10.9.0.300"}]'), /row 0 has no valid "dst"/);
});

test('parseRouteGet: on-link next hop is the real itself, else the gateway', () => {
  assert.deepEqual(parseRouteGet(ROUTE_ONLINK, '10.9.0.7'), { nexthop: '10.9.0.7', dev: 'v0' });
  assert.deepEqual(parseRouteGet(ROUTE_VIA_GW, '10.50.0.9'), { nexthop: '10.9.0.254', dev: 'v0' });
  assert.throws(() => parseRouteGet('[]', '10.9.0.7'), /ip -j route get 10\.9\.0\.7: no route with a device/);
});

test('addresses are spelt the model\'s way (RFC 5952) on both sides; a bad next hop is refused', () => {
  assert.deepEqual(parseNeighbours('[{"dst":"FD00:0077:0:0::0011","state":["NONE"]}]').map((e) => e.address), ['fd00:77::11']);
  assert.deepEqual(parseRouteGet('[{"dst":"2001:db8::9","gateway":"FD00:77::00FE","dev":"v0"}]', '2001:db8::9').nexthop, 'fd00:77::fe');
  assert.deepEqual(planNeighbours(['FD00:0077::11', '10.77.0.11'], [], new Set()).add, ['10.77.0.11', 'fd00:77::11']);
  assert.throws(() => planNeighbours(['10.77.0'], [], new Set()), (e: unknown) => e instanceof NeighbourError && /not an IP address: "10\.77\.0"/.test(e.message));
  assert.throws(() => parseRouteGet('[{"dst":"x","gateway":"10.9.0.300","dev":"v0"}]', '10.50.0.9'), /not an IP address: "10\.9\.0\.300"/);
});

test('planNeighbours adds missing ones, kicks unresolved managed, drops only its own stale ones', () => {
  const current = parseNeighbours(NEIGH_SAMPLE);
  const plan = planNeighbours(['10.9.0.2', '10.9.0.3', '10.9.0.9', 'FE80::7852:55ff:fecf:220'], current, new Set(['10.9.0.7', '10.9.0.2']));
  assert.deepEqual(plan, {
    add: ['10.9.0.9'], // missing (fe80::… is resolved though not managed: left as it is)
    kick: ['10.9.0.3'], // managed, FAILED
    drop: ['10.9.0.7'], // ours, no longer wanted (10.9.0.3 is managed but not ours: kept)
  });
  assert.deepEqual(planNeighbours([], current, new Set()), { add: [], kick: [], drop: [] }, 'an operator\'s managed entries are never dropped');
});

test('Neighbours.refresh runs the planned ip commands, remembers its entries and drops them when unneeded', async () => {
  const ran: string[] = [];
  let neigh4 = '[]';
  const exec = (argv: string[]): string => {
    const cmd = argv.join(' ');
    ran.push(cmd);
    if (cmd.startsWith('ip -j -4 route get')) return `[{"dst":"${argv[5]}","dev":"priv0"}]`;
    if (cmd.startsWith('ip -j -6 route get')) return `[{"dst":"${argv[5]}","gateway":"fd00:77::fe","dev":"priv0"}]`;
    if (cmd === 'ip -j -4 neigh show dev priv0') return neigh4;
    if (cmd === 'ip -j -6 neigh show dev priv0') return '';
    return '';
  };
  const n = new Neighbours({ dev: 'priv0', log: pino({ level: 'silent' }), host: scriptedHost(exec) });
  const r1 = await n.refresh([{ address: '10.77.0.11', family: 4 }, { address: '2001:db8:9::1', family: 6 }]);
  assert.deepEqual(r1, { added: ['10.77.0.11', 'fd00:77::fe'], kicked: [], dropped: [] });
  assert.ok(ran.includes('ip neigh replace 10.77.0.11 dev priv0 managed'));
  assert.ok(ran.includes('ip neigh replace fd00:77::fe dev priv0 managed'), 'the v6 real is behind a gateway: its gateway is resolved');
  assert.deepEqual(n.managed(), ['10.77.0.11', 'fd00:77::fe']);

  neigh4 = '[{"dst":"10.77.0.11","lladdr":"02:00:00:00:00:0b","managed":null,"state":["REACHABLE"]}]';
  ran.length = 0;
  const r2 = await n.refresh([]);
  assert.deepEqual(r2, { added: [], kicked: [], dropped: ['10.77.0.11'] });
  assert.ok(ran.includes('ip neigh del 10.77.0.11 dev priv0'));
});

test('Neighbours skips a real routed out of another interface and says so', async () => {
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) });
  const exec = (argv: string[]): string => (argv.includes('route') ? '[{"dst":"192.0.2.5","gateway":"203.0.113.254","dev":"pub0"}]' : '[]');
  const n = new Neighbours({ dev: 'priv0', log, host: scriptedHost(exec) });
  assert.deepEqual(await n.refresh([{ address: '192.0.2.5', family: 4 }]), { added: [], kicked: [], dropped: [] });
  assert.match(lines.join(''), /real is not reached through the private interface/);
});

// An operator's entries on this kernel: `ip neigh add 10.9.0.20 lladdr … nud permanent` and
// `nud noarp`, a kernel-learnt STALE one, and an unresolved one the kernel gave up on.
const OPERATOR_SAMPLE =
  '[{"dst":"10.9.0.20","lladdr":"02:00:00:00:00:14","state":["PERMANENT"]},' +
  '{"dst":"10.9.0.21","lladdr":"02:00:00:00:00:15","state":["NOARP"]},' +
  '{"dst":"10.9.0.22","lladdr":"02:00:00:00:00:16","state":["STALE"]},' +
  '{"dst":"10.9.0.23","state":["FAILED"]}]';

test('planNeighbours leaves resolved entries that are not managed alone; an unresolved one becomes managed', () => {
  const current = parseNeighbours(OPERATOR_SAMPLE);
  const want = ['10.9.0.20', '10.9.0.21', '10.9.0.22', '10.9.0.23'];
  assert.deepEqual(planNeighbours(want, current, new Set()), { add: ['10.9.0.23'], kick: [], drop: [] });
  // Even listed as ours (we once made them managed, then the operator made them static), they are never dropped.
  assert.deepEqual(planNeighbours([], current, new Set(want)), { add: [], kick: [], drop: [] });
});

/** A scripted `ip`: routes on priv0 except for the addresses in `noRoute`, neighbours from `neigh4`. */
function scriptedIp(state: { neigh4: string; noRoute: Set<string>; refuse: Set<string>; ran: string[] }) {
  return (argv: string[]): string => {
    const cmd = argv.join(' ');
    state.ran.push(cmd);
    if (cmd.startsWith('ip -j -4 route get')) {
      if (state.noRoute.has(argv[5]!)) throw new NeighbourError(`${cmd} failed: RTNETLINK answers: Network is unreachable`);
      return `[{"dst":"${argv[5]}","dev":"priv0"}]`;
    }
    if (cmd === 'ip -j -4 neigh show dev priv0') return state.neigh4;
    if (cmd === 'ip -j -6 neigh show dev priv0') return '';
    if (argv[1] === 'neigh' && state.refuse.has(argv[3]!)) throw new NeighbourError(`${cmd} failed: RTNETLINK answers: Invalid argument`);
    return '';
  };
}

const captureLog = () => {
  const lines: string[] = [];
  return { lines, log: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }) };
};
const records = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

test('Neighbours: a real whose route lookup fails is logged by address; the others are resolved; nothing is dropped that run', async () => {
  const state = { neigh4: '[]', noRoute: new Set<string>(), refuse: new Set<string>(), ran: [] as string[] };
  const { lines, log } = captureLog();
  const n = new Neighbours({ dev: 'priv0', log, host: scriptedHost(scriptedIp(state)) });
  const all = ['10.77.0.11', '10.77.0.12', '10.77.0.13'].map((address) => ({ address, family: 4 as const }));
  assert.deepEqual((await n.refresh(all)).added, ['10.77.0.11', '10.77.0.12', '10.77.0.13']);
  state.neigh4 = JSON.stringify(all.map((r) => ({ dst: r.address, lladdr: '02:00:00:00:00:01', managed: null, state: ['REACHABLE'] })));

  state.noRoute.add('10.77.0.12');
  const r = await n.refresh(all.filter((x) => x.address !== '10.77.0.13'));
  assert.deepEqual(r, { added: [], kicked: [], dropped: [] }, '10.77.0.12 unrouted this run: no drops, though 10.77.0.13 went');
  const err = records(lines).find((x) => x.level === 50);
  assert.ok(err, 'an error is logged');
  assert.equal(err.real, '10.77.0.12');
  assert.equal(err.code, 'E_NEIGHBOUR');
  assert.match(err.msg as string, /no route to a real found/);
  assert.deepEqual(n.managed(), ['10.77.0.11', '10.77.0.12', '10.77.0.13']);

  state.noRoute.clear();
  assert.deepEqual((await n.refresh()).dropped, ['10.77.0.13'], 'with every route seen, the unneeded entry goes');
});

test('Neighbours: one refused neighbour command does not stop the others', async () => {
  const state = { neigh4: '[]', noRoute: new Set<string>(), refuse: new Set(['10.77.0.11']), ran: [] as string[] };
  const { lines, log } = captureLog();
  const n = new Neighbours({ dev: 'priv0', log, host: scriptedHost(scriptedIp(state)) });
  const r = await n.refresh(['10.77.0.11', '10.77.0.12'].map((address) => ({ address, family: 4 as const })));
  assert.deepEqual(r.added, ['10.77.0.12']);
  assert.deepEqual(n.managed(), ['10.77.0.12'], 'a refused entry is not counted as ours');
  const err = records(lines).find((x) => x.level === 50);
  assert.equal(err?.nexthop, '10.77.0.11');
});

test('Neighbours leaves an operator\'s static entry alone and never deletes it', async () => {
  const state = { neigh4: OPERATOR_SAMPLE, noRoute: new Set<string>(), refuse: new Set<string>(), ran: [] as string[] };
  const n = new Neighbours({ dev: 'priv0', log: pino({ level: 'silent' }), host: scriptedHost(scriptedIp(state)) });
  const r = await n.refresh([{ address: '10.9.0.20', family: 4 }, { address: '10.9.0.21', family: 4 }]);
  assert.deepEqual(r, { added: [], kicked: [], dropped: [] });
  await n.refresh([]);
  assert.deepEqual(state.ran.filter((c) => !c.startsWith('ip -j')), [], 'no replace, no del');
  assert.deepEqual(n.managed(), []);
});
