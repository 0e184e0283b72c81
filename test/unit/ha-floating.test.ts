// SPDX-License-Identifier: Apache-2.0
// The pure parts of floating.ts: which address goes where and with what prefix, and the
// RTM_NEWADDR a floating IPv6 address is added with (nodad, preferred_lft 0 in IFA_CACHEINFO,
// as `ip addr add ADDR/128 dev DEV nodad preferred_lft 0` sends it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { floatingAddresses } from '../../src/ha/floating.js';
import { addAddress, deleteAddress } from '../../src/host/rtnl-messages.js';
import { IFA_CACHEINFO, IFA_F_NODAD } from '../../src/host/rtnl-codec.js';
import { InvalidArgumentError } from '../../src/errors.js';

const dev = { index: 7, name: 'pub0' };

test('floatingAddresses: VIPs on public, the rest on private, /32 and /128, duplicates once', () => {
  const got = floatingAddresses({ public: 'pub0', private: 'priv0', vips: ['203.0.113.100', '2001:db8:1::100', '2001:db8:1:0::100'], privateAddrs: ['10.77.0.1', 'fd00:77::1'] });
  assert.deepEqual(got, [
    { address: '203.0.113.100', prefixlen: 32, dev: 'pub0' },
    { address: '2001:db8:1::100', prefixlen: 128, dev: 'pub0' },
    { address: '10.77.0.1', prefixlen: 32, dev: 'priv0' },
    { address: 'fd00:77::1', prefixlen: 128, dev: 'priv0' },
  ]);
  assert.throws(() => floatingAddresses({ public: 'pub0', private: 'priv0', vips: ['nope'], privateAddrs: [] }), InvalidArgumentError);
});

test('addAddress with preferredLft: IFA_CACHEINFO {prefered 0, valid forever}; nodad in the header', () => {
  const req = addAddress({ address: '2001:db8:1::100', prefixlen: 128, dev, nodad: true, preferredLft: 0 });
  assert.equal(req.what, 'ip addr add 2001:db8:1::100/128 dev pub0 nodad preferred_lft 0');
  assert.equal(req.header[2], IFA_F_NODAD);
  const ci = req.attrs?.find((a) => a.type === IFA_CACHEINFO);
  assert.ok(ci !== undefined && Buffer.isBuffer(ci.value));
  assert.deepEqual(ci.value, Buffer.from([0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]));
  assert.equal(addAddress({ address: '10.0.0.1', prefixlen: 32, dev }).attrs?.some((a) => a.type === IFA_CACHEINFO), false);
  assert.equal(deleteAddress({ address: '2001:db8:1::100', prefixlen: 128, dev, preferredLft: 0 }).attrs?.some((a) => a.type === IFA_CACHEINFO), false);
  assert.throws(() => addAddress({ address: '2001:db8::1', prefixlen: 128, dev, preferredLft: -1 }), InvalidArgumentError);
});
