// SPDX-License-Identifier: Apache-2.0
// The pure parts of the pin dir's checks (issue 13): whether its bpffs is PID 1's, from two
// mountinfo texts (src/kernel/bpffs-shared.ts); the lock holder's PID from /proc/locks
// (src/kernel/pin-dir-lock.ts); and the errors' codes and wording. The kernel side runs in
// test/integration/pin-dir-owner.test.ts and private-bpffs.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bpffsSharing, mountOf, parseMountinfo } from '../../src/kernel/bpffs-shared.js';
import { holderIn } from '../../src/kernel/pin-dir-lock.js';
import { PinDirOwnedError, PrivateBpffsError } from '../../src/errors.js';

const HOST = `22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
23 22 0:22 / /sys rw,nosuid shared:7 - sysfs sysfs rw
53 23 0:40 / /sys/fs/bpf rw,relatime shared:9 - bpf bpf rw,mode=700
60 22 0:50 / /mnt/with\\040space rw - tmpfs tmpfs rw
`;
/** What `ip netns exec` leaves: /sys afresh, and the bpffs xlvsd mounted there itself. */
const NETNS_EXEC = `22 1 254:1 / / rw,relatime master:1 - ext4 /dev/vda1 rw
52 22 0:41 / /sys rw,relatime - sysfs xlvs-1234-rtr rw
70 52 0:77 / /sys/fs/bpf rw,relatime - bpf bpf rw
`;

test('mountinfo: device, mount point (unescaped) and type, optional fields skipped', () => {
  const m = parseMountinfo(HOST);
  assert.deepEqual(m.map((x) => [x.device, x.mountPoint, x.fsType]), [
    ['254:1', '/', 'ext4'], ['0:22', '/sys', 'sysfs'], ['0:40', '/sys/fs/bpf', 'bpf'], ['0:50', '/mnt/with space', 'tmpfs'],
  ]);
  assert.equal(mountOf('/sys/fs/bpf/xlvs', m)?.device, '0:40');
  assert.equal(mountOf('/sys/fs/bpffoo', m)?.device, '0:22', 'a prefix of the name is not a parent');
  assert.equal(mountOf('/var/lib/xlvs', m)?.device, '254:1');
});

test('the host\'s bpffs is shared; the one ip netns exec leaves is not; no bpffs cannot tell', () => {
  assert.deepEqual(bpffsSharing('/sys/fs/bpf/xlvs', HOST, HOST), { shared: true, mount: { device: '0:40', mountPoint: '/sys/fs/bpf', fsType: 'bpf' } });
  assert.deepEqual(bpffsSharing('/sys/fs/bpf/xlvs', NETNS_EXEC, HOST), { shared: false, mount: { device: '0:77', mountPoint: '/sys/fs/bpf', fsType: 'bpf' } });
  // A bind mount of the host's bpffs elsewhere is the same superblock: shared.
  const bound = `${NETNS_EXEC}80 22 0:40 / /run/pins rw - bpf bpf rw\n`;
  assert.equal(bpffsSharing('/run/pins/xlvs', bound, HOST).shared, true);
  assert.equal(bpffsSharing('/tmp/pins', HOST, HOST).shared, undefined);
});

test('/proc/locks: the PID of the flock on the pin dir\'s inode; none when no line matches', () => {
  const locks = `1: POSIX  ADVISORY  WRITE 999 fe:01:1234 0 EOF
2: FLOCK  ADVISORY  WRITE 4321 00:28:7 0 EOF
3: FLOCK  ADVISORY  WRITE 555 00:28:1 0 EOF
`;
  assert.equal(holderIn(locks, 40n, 1n), 555); // device 0:40 prints as 00:28
  assert.equal(holderIn(locks, 40n, 7n), 4321);
  assert.equal(holderIn(locks, 40n, 2n), undefined);
  assert.equal(holderIn(locks, (254n << 8n) | 1n, 1234n), undefined, 'POSIX locks are not ours');
  // Big device numbers: major 0x103, minor 0x12345, in the kernel's split encoding.
  const dev = (0x45n) | (0x103n << 8n) | (0x123n << 20n);
  assert.equal(holderIn('1: FLOCK  ADVISORY  WRITE 77 103:12345:9 0 EOF\n', dev, 9n), 77);
});

test('the errors: stable codes naming the pin dir, the owner\'s PID, the way out', () => {
  const owned = new PinDirOwnedError('/sys/fs/bpf/xlvs', 4321);
  assert.equal(owned.code, 'E_PIN_DIR_OWNED');
  assert.equal(owned.message, 'pin-dir: /sys/fs/bpf/xlvs is owned by PID 4321; refusing to start: one xlvsd per pin dir, stop that one first (got "/sys/fs/bpf/xlvs")');
  assert.match(new PinDirOwnedError('/x', undefined, 'refusing to tear it down').message, /owned by another process \(PID not visible here\); refusing to tear it down/);
  const priv = new PrivateBpffsError('/sys/fs/bpf/xlvs', '/sys/fs/bpf', '0:77');
  assert.equal(priv.code, 'E_BPFFS_PRIVATE');
  assert.match(priv.message, /^pin-dir: \/sys\/fs\/bpf\/xlvs is on a bpffs \(\/sys\/fs\/bpf, device 0:77\) that PID 1's mount namespace does not have/);
  assert.match(priv.message, /--allow-private-bpffs/);
});
