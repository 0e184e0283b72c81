// SPDX-License-Identifier: Apache-2.0
// The fuzz oracle's own pieces: ipView judges headers as bpf/parse.h does (fragments, the IPv6
// extension chain bound, lengths), l4ChecksumOk agrees with the frame parser, session templates
// patched by the SessionPatcher are valid frames with their checksums right, and a fuzzer with a
// patcher still replays any frame by index.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipView, l4ChecksumOk, ipv4HeaderOk } from '../../testing/fuzz-view.js';
import { SessionPatcher, sessionTemplates } from '../../testing/fuzz-sessions.js';
import { FrameFuzzer, Prng, replay } from '../../testing/fuzz.js';
import { buildFrame, parseFrame, badChecksums, type FrameSpec } from '../../testing/frames.js';

const v4 = (extra: object, l4: object = { kind: 'tcp', sport: 1, dport: 80, flags: 'SYN' }): Buffer =>
  buildFrame({ l3: { kind: 'ipv4', src: '198.51.100.1', dst: '203.0.113.100', l4, ...extra } } as FrameSpec);
const v6 = (ext: object[], l4: object = { kind: 'tcp', sport: 1, dport: 80, flags: 'SYN' }): Buffer =>
  buildFrame({ l3: { kind: 'ipv6', src: '2001:db8:2::1', dst: '2001:db8:1::100', ext, l4 } } as FrameSpec);

test('ipView: fragments, extension chains and lengths as parse.h sees them', () => {
  assert.equal(ipView(v4({}), 54)!.ports, true);
  assert.equal(ipView(v4({ mf: true }), 54)!.frag, true);
  assert.equal(ipView(v4({ totalLength: 200 }), 54), null, 'a total length beyond the frame is a broken packet');
  assert.equal(ipView(v4({ ihl: 4 }), 54), null);
  const three = v6([{ kind: 'hop-by-hop' }, { kind: 'dest-opts' }, { kind: 'routing' }]);
  assert.equal(ipView(three, three.length)!.extLong, false, 'three extension headers are walked');
  assert.equal(ipView(three, three.length)!.ports, true);
  const four = v6([{ kind: 'hop-by-hop' }, { kind: 'dest-opts' }, { kind: 'routing' }, { kind: 'dest-opts' }]);
  assert.equal(ipView(four, four.length)!.extLong, true, 'a fourth is too long a chain');
  const frag = v6([{ kind: 'fragment', offset: 8 }], { kind: 'raw', proto: 6, data: Buffer.alloc(16) });
  assert.equal(ipView(frag, frag.length)!.frag, true);
  const truncated = v4({});
  assert.equal(ipView(truncated, 50), null, 'cut inside the IP packet');
});

test('ipView: headers past the IP header are bounded by the IP length, as parse.h bounds them (cursor.lim)', () => {
  // A TCP header the frame holds but the IP length cuts: parse_tcp fails, no ports (the frame passes).
  const short6 = v6([]);
  short6.writeUInt16BE(8, 18);
  assert.equal(ipView(short6, short6.length)!.ports, false, 'IPv6 payload length 8: no TCP header');
  const short4 = v4({ totalLength: 28 });
  assert.equal(ipView(short4, short4.length)!.ports, false, 'IPv4 total length 28: no TCP header');
  const udp4 = v4({ totalLength: 27 }, { kind: 'udp', sport: 5, dport: 53 });
  assert.equal(ipView(udp4, udp4.length)!.ports, false, 'a UDP header cut by the total length');
  const opts = v4({}, { kind: 'tcp', sport: 1, dport: 80, flags: 'SYN', options: Buffer.alloc(8, 1) });
  opts.writeUInt16BE(44, 16);
  assert.equal(ipView(opts, opts.length)!.ports, false, 'TCP options (doff) past the IP length');
  // An extension header the IP length cuts: parse.h returns -1 (the frame passes as broken).
  const ext = v6([{ kind: 'dest-opts' }]);
  ext.writeUInt16BE(4, 18);
  assert.equal(ipView(ext, ext.length), null);
  // A fragment header is 8 bytes within the IP packet, or the packet is broken.
  const frag = v6([{ kind: 'fragment', more: true }]);
  assert.equal(ipView(frag, frag.length)!.frag, true);
  assert.equal(ipView(frag, frag.length)!.fragLater, false);
  assert.equal(ipView(frag, frag.length)!.ports, true, 'a first fragment\'s transport header is parsed');
  frag.writeUInt16BE(6, 18);
  assert.equal(ipView(frag, frag.length), null, 'a fragment header cut by the payload length');
  // A routing header with segments left: not yet for the VIP; nothing past it is read.
  const rh = v6([{ kind: 'routing', segmentsLeft: 1, data: Buffer.alloc(20) }]);
  const rv = ipView(rh, rh.length)!;
  assert.equal(rv.rhPending, true);
  assert.equal(rv.proto, 43);
  assert.equal(rv.ports, false);
  assert.equal(rv.frag, false);
  assert.equal(l4ChecksumOk(rh, rv), null);
  const rh0 = v6([{ kind: 'routing', segmentsLeft: 0 }]);
  assert.equal(ipView(rh0, rh0.length)!.rhPending, false, 'no segments left: walked like any other');
  assert.equal(ipView(rh0, rh0.length)!.ports, true);
  // A fragment header after a pending routing header is never reached.
  const rhFrag = v6([{ kind: 'routing', segmentsLeft: 2, data: Buffer.alloc(20) }, { kind: 'fragment', more: true }]);
  assert.equal(ipView(rhFrag, rhFrag.length)!.frag, false);
  // A later IPv4 fragment has no transport header.
  const later = v4({ fragOffset: 8 });
  assert.equal(ipView(later, later.length)!.fragLater, true);
  assert.equal(ipView(later, later.length)!.ports, false);
});

test('l4ChecksumOk agrees with the frame parser on good and broken checksums', () => {
  for (const f of [v4({}), v4({}, { kind: 'udp', sport: 5, dport: 53, payload: Buffer.from('abc') }), v6([]), v6([], { kind: 'udp', sport: 5, dport: 53 })]) {
    const v = ipView(f, f.length)!;
    assert.equal(l4ChecksumOk(f, v), true);
    f[f.length - 1]! ^= 0x10;
    assert.equal(l4ChecksumOk(f, v), false);
    assert.ok(badChecksums(parseFrame(f)).some((p) => p.endsWith('l4.checksum')));
  }
  const h = v4({});
  assert.equal(ipv4HeaderOk(h, 14, h.length), true);
  h[22]! ^= 1;
  assert.equal(ipv4HeaderOk(h, 14, h.length), false);
});

test('patched session templates are valid frames, every checksum right', () => {
  const { specs, tags } = sessionTemplates([
    { vip: '203.0.113.100', port: 80, proto: 'tcp', pool: 1 },
    { vip: '2001:db8:1::100', port: 5353, proto: 'udp', pool: 2 },
  ]);
  const p = new SessionPatcher(tags, { martians4: ['127.0.0.1'], martians6: ['::1'] });
  const r = new Prng(5);
  for (let round = 0; round < 20; round++) {
    specs.forEach((s, i) => {
      const b = buildFrame(s);
      p.patch(i, b, b.length, r);
      assert.deepEqual(badChecksums(parseFrame(b)), [], `${tags[i]!.role} round ${round}`);
    });
  }
});

test('a fuzzer with a patcher replays any frame by index', () => {
  const { specs, tags } = sessionTemplates([{ vip: '203.0.113.100', port: 80, proto: 'tcp', pool: 1 }]);
  const opts = { seed: 9, templates: specs, patcher: () => new SessionPatcher(tags, { martians4: ['0.0.0.0'], martians6: ['::'] }) };
  const f = new FrameFuzzer(opts);
  for (let i = 0; i <= 3000; i++) f.next();
  assert.equal(replay(opts, 3000).frame.toString('hex'), f.buf.subarray(0, f.length).toString('hex'));
});
