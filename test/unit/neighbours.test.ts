// SPDX-License-Identifier: Apache-2.0
// Neighbour upkeep: parsing iproute2's JSON (samples captured from `ip -j` on this kernel),
// the add/kick/drop plan, and the Neighbours class driving a scripted `ip`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { canonical, isResolved, NeighbourError, parseNeighbours, parseRouteGet, planNeighbours } from '../../src/dataplane/neighbour-plan.js';
import { Neighbours } from '../../src/dataplane/neighbours.js';

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

test('canonical spells IPv6 one way (RFC 5952) and refuses non-addresses', () => {
  assert.equal(canonical('FD00:0077:0:0::0011'), 'fd00:77::11');
  assert.equal(canonical('10.77.0.11'), '10.77.0.11');
  assert.throws(() => canonical('10.77.0'), /not an IP address: "10\.77\.0"/);
});

test('planNeighbours adds missing or unmanaged, kicks unresolved managed, drops only its own stale ones', () => {
  const current = parseNeighbours(NEIGH_SAMPLE);
  const plan = planNeighbours(['10.9.0.2', '10.9.0.3', '10.9.0.9', 'FE80::7852:55ff:fecf:220'], current, new Set(['10.9.0.7', '10.9.0.2']));
  assert.deepEqual(plan, {
    add: ['10.9.0.9', 'fe80::7852:55ff:fecf:220'], // missing; present but not managed
    kick: ['10.9.0.3'], // managed, FAILED
    drop: ['10.9.0.7'], // ours, no longer wanted (10.9.0.3 is managed but not ours: kept)
  });
  assert.deepEqual(planNeighbours([], current, new Set()), { add: [], kick: [], drop: [] }, 'an operator\'s managed entries are never dropped');
});

test('Neighbours.refresh runs the planned ip commands, remembers its entries and drops them when unneeded', async () => {
  const ran: string[] = [];
  let neigh4 = '[]';
  const exec = async (argv: string[]): Promise<string> => {
    const cmd = argv.join(' ');
    ran.push(cmd);
    if (cmd.startsWith('ip -j -4 route get')) return `[{"dst":"${argv[5]}","dev":"priv0"}]`;
    if (cmd.startsWith('ip -j -6 route get')) return `[{"dst":"${argv[5]}","gateway":"fd00:77::fe","dev":"priv0"}]`;
    if (cmd === 'ip -j -4 neigh show dev priv0') return neigh4;
    if (cmd === 'ip -j -6 neigh show dev priv0') return '';
    return '';
  };
  const n = new Neighbours({ dev: 'priv0', log: pino({ level: 'silent' }), exec });
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
  const exec = async (argv: string[]): Promise<string> => (argv.includes('route') ? '[{"dst":"192.0.2.5","gateway":"203.0.113.254","dev":"pub0"}]' : '[]');
  const n = new Neighbours({ dev: 'priv0', log, exec });
  assert.deepEqual(await n.refresh([{ address: '192.0.2.5', family: 4 }]), { added: [], kicked: [], dropped: [] });
  assert.match(lines.join(''), /real is not reached through the private interface/);
});
