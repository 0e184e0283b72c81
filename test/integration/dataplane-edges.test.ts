// SPDX-License-Identifier: Apache-2.0
// Fixtures for drops and options no test reached before issue 14, through the real xlvs_public /
// xlvs_private (BPF_PROG_TEST_RUN) in the fuzz test's router namespace and services
// (testing/fuzz-net.ts): a non-first IPv6 fragment and a chain of four IPv6 extension headers to
// a VIP (dropped, counted), IPv4 options kept byte for byte through NAT, a TTL / hop limit that
// expires at the router (answered with ICMP time exceeded quoting the packet as the client sent
// it: the fixed behaviour, see below), full-NAT with every local port taken (no_port), and a
// connection whose replies pause longer than the flow timeout while the client keeps sending
// (both entries must live as long as the connection: pair expiry).
//
// On the unfixed data plane (issue 14's branch i14-fuzz) the TTL and pair-expiry fixtures fail:
// TTL 1 to a nat VIP is handed to the kernel already translated (its time exceeded would quote
// the real's address), to a full-NAT VIP dropped; and a forward-only stretch lets the reply entry
// expire and be reaped, so the real's next reply passes untranslated.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { FixtureRunner, type Fixture } from '../../testing/fixture.js';
import { buildFrame, ICMP, ICMPV6, type FrameSpec, type L4Spec, type ParsedIpv4, type ParsedIpv6, type ParsedIcmp, type ParsedTcp } from '../../testing/frames.js';
import { FuzzNet, NET, fuzzServices } from '../../testing/fuzz-net.js';
import { inNetns, XdpTestRunner, verdictName } from '../../src/kernel/test-run.js';
import { addressBytes } from '../../src/model/ip.js';
import { XLVS_DROP, XLVS_DROP_MAX, XLVS_DIR_FORWARD, XLVS_DIR_REPLY, XLVS_FLOW_TCP_EST, XLVS_METHOD } from '../../src/gen/abi.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLIENT4 = '198.51.100.9';
const CLIENT6 = '2001:db8:2::9';

let net: FuzzNet;
let runner: FixtureRunner;

before(async () => {
  net = await FuzzNet.create(ROOT, fuzzServices());
  runner = new FixtureRunner({ xlvs_public: net.dp.progFd('xlvs_public'), xlvs_private: net.dp.progFd('xlvs_private') }, { netns: net.nsPath });
});

after(() => {
  net?.close();
});

function drops(): bigint[] {
  return Array.from({ length: XLVS_DROP_MAX }, (_, r) => (net.dp.maps.drops.lookup(r) ?? []).reduce((a, b) => a + b, 0n));
}

/** Runs one fixture; asserts it passed and that exactly `drop` (if given) was counted once. */
function run(f: Omit<Fixture, 'ingress'> & { ingress?: string }, drop?: number): Buffer {
  const before = drops();
  const [r] = runner.runAll([{ ingress: 'pub0', ...f }]);
  assert.deepEqual(r!.problems, [], `${f.name} (verdict ${r!.verdict})`);
  if (drop !== undefined) {
    const d = drops().map((x, i) => x - before[i]!);
    assert.equal(d[drop], 1n, `${f.name}: drops by reason ${d.join(',')}, expected one of reason ${drop}`);
  }
  return r!.out;
}

const fromClient = (l3: FrameSpec['l3']): FrameSpec => ({ eth: { src: NET.mac.client, dst: NET.mac.pub0 }, l3 });
const syn = (sport: number, dport: number): L4Spec => ({ kind: 'tcp', sport, dport, seq: 1000, flags: 'SYN' });

test('a non-first IPv6 fragment to a VIP is dropped and counted as fragment', () => {
  run({
    name: 'ipv6 fragment at offset 1232',
    prog: 'xlvs_public',
    input: fromClient({ kind: 'ipv6', src: CLIENT6, dst: NET.vip6, ext: [{ kind: 'fragment', offset: 1232, id: 77 }], l4: { kind: 'raw', proto: 6, data: Buffer.alloc(64, 7) } }),
    expect: { verdict: 'XDP_DROP' },
  }, XLVS_DROP.FRAGMENT);
});

test('four IPv6 extension headers before TCP to a VIP are dropped and counted as ipv6_ext', () => {
  run({
    name: 'hop-by-hop, dest-opts, routing, dest-opts, then a SYN',
    prog: 'xlvs_public',
    input: fromClient({
      kind: 'ipv6', src: CLIENT6, dst: NET.vip6,
      ext: [{ kind: 'hop-by-hop' }, { kind: 'dest-opts' }, { kind: 'routing', data: Buffer.alloc(4) }, { kind: 'dest-opts' }],
      l4: syn(40100, 80),
    }),
    expect: { verdict: 'XDP_DROP' },
  }, XLVS_DROP.IPV6_EXT);
});

test('IPv4 options travel byte for byte through NAT (only addresses, ports, TTL and checksums change)', () => {
  const options = Buffer.from('9404000001010100', 'hex'); // router alert, then NOP NOP NOP EOL
  run({
    name: 'SYN with IPv4 options to nat VIP:80',
    prog: 'xlvs_public',
    input: fromClient({ kind: 'ipv4', src: CLIENT4, dst: NET.vip4, ttl: 64, id: 4242, options, l4: syn(40200, 80) }),
    expect: {
      verdict: 'XDP_REDIRECT',
      frame: (p) => {
        const ip = p.l3 as ParsedIpv4;
        assert.equal(ip.ihl, 7, 'header length');
        assert.equal(ip.options, options.toString('hex'), 'options');
        assert.equal(ip.id, 4242, 'id');
        assert.equal(ip.ttl, 63, 'TTL');
        assert.ok((NET.reals4 as readonly string[]).includes(ip.dst), `to a real: ${ip.dst}`);
        assert.equal(ip.src, CLIENT4, 'nat keeps the client');
        assert.equal((ip.l4 as ParsedTcp).dport, 8080, 'real port');
        assert.equal(ip.checksumValid, true, 'IPv4 header checksum');
        assert.equal((ip.l4 as ParsedTcp).checksumValid, true, 'TCP checksum');
      },
    },
  });
});

/**
 * The fixed behaviour for a packet whose TTL / hop limit expires at the router: an ICMP time
 * exceeded (code 0) from the VIP back to the client, quoting the packet as the client sent it
 * (to the VIP, not the real), sent with XDP_TX. Today nat hands it to the kernel translated and
 * full-NAT drops it: these fail until the TTL fix lands.
 */
function timeExceeded(v6: boolean, vip: string, client: string, dport: number) {
  return (p: import('../../testing/frames.js').ParsedFrame): void => {
    assert.equal(p.eth.dst, NET.mac.client, 'back to the client\'s MAC');
    assert.equal(p.eth.src, NET.mac.pub0, 'from the public interface');
    const ip = p.l3 as ParsedIpv4 | ParsedIpv6;
    assert.equal(ip.src, vip, 'from the VIP');
    assert.equal(ip.dst, client, 'to the client');
    const icmp = ip.l4 as ParsedIcmp;
    assert.equal(icmp.kind, v6 ? 'icmpv6' : 'icmp');
    assert.equal(icmp.type, v6 ? ICMPV6.TIME_EXCEEDED : ICMP.TIME_EXCEEDED, 'time exceeded');
    assert.equal(icmp.code, 0, 'in transit');
    assert.equal(icmp.checksumValid, true, 'ICMP checksum');
    const quote = icmp.original;
    assert.ok(quote !== undefined && quote.kind !== 'raw', 'quotes the packet');
    const q = quote as ParsedIpv4 | ParsedIpv6;
    assert.equal(q.dst, vip, 'the quote is untranslated: to the VIP');
    assert.equal(q.src, client, 'from the client');
    assert.equal((q.l4 as ParsedTcp).dport, dport, 'to the VIP\'s port');
  };
}

test('TTL 1 to a nat VIP: ICMP time exceeded from the VIP quoting the untranslated packet (fails until the TTL fix)', () => {
  run({
    name: 'IPv4 TTL 1 to nat VIP:80',
    prog: 'xlvs_public',
    input: fromClient({ kind: 'ipv4', src: CLIENT4, dst: NET.vip4, ttl: 1, l4: syn(40300, 80) }),
    expect: { verdict: 'XDP_TX', frame: timeExceeded(false, NET.vip4, CLIENT4, 80) },
  });
});

test('hop limit 1 to a nat IPv6 VIP: ICMPv6 time exceeded from the VIP quoting the untranslated packet (fails until the TTL fix)', () => {
  run({
    name: 'IPv6 hop limit 1 to nat VIP6:80',
    prog: 'xlvs_public',
    input: fromClient({ kind: 'ipv6', src: CLIENT6, dst: NET.vip6, hopLimit: 1, l4: syn(40301, 80) }),
    expect: { verdict: 'XDP_TX', frame: timeExceeded(true, NET.vip6, CLIENT6, 80) },
  });
});

test('TTL 1 to a full-NAT VIP: ICMP time exceeded as well (fails until the TTL fix)', () => {
  run({
    name: 'IPv4 TTL 1 to fullnat VIP:8000',
    prog: 'xlvs_public',
    input: fromClient({ kind: 'ipv4', src: CLIENT4, dst: NET.vip4, ttl: 1, l4: syn(40302, 8000) }),
    expect: { verdict: 'XDP_TX', frame: timeExceeded(false, NET.vip4, CLIENT4, 8000) },
  });
});

test('pair expiry: a client that keeps sending while the real is quiet longer than the timeout still gets the real\'s reply translated (fails until the fix)', async () => {
  const dp = net.dp;
  const cfg = dp.maps.cfg.lookup(0)!;
  const SEC = 1_000_000_000n;
  dp.maps.cfg.update(0, { ...cfg, timeout_udp_ns: 2n * SEC });
  try {
    const pub = new XdpTestRunner(dp.progFd('xlvs_public'));
    const priv = new XdpTestRunner(dp.progFd('xlvs_private'));
    const reap = new XdpTestRunner(dp.progFd('xlvs_reap'));
    const sport = 40400;
    const datagram = buildFrame(fromClient({ kind: 'ipv4', src: CLIENT4, dst: NET.vip4, l4: { kind: 'udp', sport, dport: 5353, payload: Buffer.from('ping') } }));
    let real = '';
    // 3.5 s of client datagrams every 250 ms (the timeout is 2 s), the reaper after each as the
    // daemon runs it (every 5 s there; more often here only makes the test stricter).
    for (let t = 0; t <= 14; t++) {
      const v = inNetns(net.nsPath, () => pub.run(datagram, datagram.length, { ingressIfindex: net.pub0 }));
      assert.equal(verdictName(v), 'XDP_REDIRECT', `client datagram ${t}`);
      if (t === 0) real = `${pub.out[30]}.${pub.out[31]}.${pub.out[32]}.${pub.out[33]}`;
      inNetns(net.nsPath, () => reap.run(datagram, datagram.length));
      await new Promise((r) => setTimeout(r, 250));
    }
    const fwKey = { src: addressBytes(CLIENT4), dst: addressBytes(NET.vip4), sport, dport: 5353, proto: 17, family: 4 };
    assert.ok(dp.maps.flows.lookup(fwKey), 'the forward entry lives');
    const rpKey = { src: addressBytes(real), dst: addressBytes(CLIENT4), sport: 5353, dport: sport, proto: 17, family: 4 };
    const rp = dp.maps.flows.lookup(rpKey);
    assert.ok(rp !== undefined && rp.dir === XLVS_DIR_REPLY, `the reply entry ${real}:5353 -> ${CLIENT4}:${sport} lives as long as the forward one`);
    const answer = buildFrame({ eth: { src: NET.mac.reals[NET.reals4.indexOf(real as never)]!, dst: NET.mac.priv0 }, l3: { kind: 'ipv4', src: real, dst: CLIENT4, l4: { kind: 'udp', sport: 5353, dport: sport, payload: Buffer.from('pong') } } });
    const v = inNetns(net.nsPath, () => priv.run(answer, answer.length, { ingressIfindex: net.priv0 }));
    assert.equal(verdictName(v), 'XDP_REDIRECT', 'the real\'s reply is translated and sent to the client');
    assert.equal(`${priv.out[26]}.${priv.out[27]}.${priv.out[28]}.${priv.out[29]}`, NET.vip4, 'from the VIP');
  } finally {
    dp.maps.cfg.update(0, cfg);
  }
});

test('full-NAT with every local port of the reals taken: the SYN is dropped as no_port and leaves no entry', () => {
  const flows = net.dp.maps.flows;
  const base = {
    expires_ns: 0xffffffffffffffffn, nat_src: Buffer.alloc(16), nat_dst: Buffer.alloc(16), nat_sport: 0, nat_dport: 0,
    state: XLVS_FLOW_TCP_EST, real_id: 0, svc_id: 0, dir: XLVS_DIR_REPLY, flags: 0, method: XLVS_METHOD.FULLNAT,
    nh_ifindex: 0, nh_expires_ns: 0n, nh_len: 0, nh_dmac: Buffer.alloc(6), nh_smac: Buffer.alloc(6), sync_s: 0,
    tcp: 0, seq_next: 0, ack: 0,
  };
  // Every (real, 9000, local, port) full-NAT may reserve: ports 1024..61439 (bpf/xlvs.bpf.c).
  const taken: Array<[import('../../src/gen/abi.js').XlvsFlowKey, import('../../src/gen/abi.js').XlvsFlow]> = [];
  for (const r of NET.reals4) {
    for (let port = 1024; port < 61440; port++) taken.push([{ src: addressBytes(r), dst: addressBytes(NET.local4), sport: 9000, dport: port, proto: 6, family: 4 }, base]);
  }
  for (let i = 0; i < taken.length; i += 8192) flows.updateBatch(taken.slice(i, i + 8192));
  try {
    const sport = 40500;
    run({
      name: 'SYN to fullnat VIP:8000 with no local port free',
      prog: 'xlvs_public',
      input: fromClient({ kind: 'ipv4', src: CLIENT4, dst: NET.vip4, l4: syn(sport, 8000) }),
      expect: { verdict: 'XDP_DROP' },
    }, XLVS_DROP.NO_PORT);
    assert.equal(flows.lookup({ src: addressBytes(CLIENT4), dst: addressBytes(NET.vip4), sport, dport: 8000, proto: 6, family: 4 }), undefined, 'no forward entry');
    let mine = 0;
    for (const [k, f] of flows.entries(65536)) if (f.dir === XLVS_DIR_FORWARD && k.sport === sport) mine++;
    assert.equal(mine, 0, 'nothing of the refused flow is left');
  } finally {
    for (const [k] of taken) flows.delete(k);
  }
});

