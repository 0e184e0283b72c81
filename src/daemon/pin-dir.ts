// SPDX-License-Identifier: Apache-2.0
// What a starting xlvsd checks of its pin dir before anything touches a map: that the pins will
// outlive it (a bpffs PID 1's mount namespace has too), and that no other daemon owns it.

import type pino from 'pino';
import { ensureBpffs } from '../kernel/bpffs.js';
import { pinDirSharing } from '../kernel/bpffs-shared.js';
import { PinDirLock } from '../kernel/pin-dir-lock.js';
import { PrivateBpffsError } from '../errors.js';

/**
 * Makes the pin dir and takes its lock (PinDirOwnedError when another process has it). A
 * private bpffs is refused (PrivateBpffsError) unless allowed: an admin who reads "data plane
 * left running" at stop expects forwarding to go on, and under `ip netns exec` it would not.
 */
export function claimPinDir(pinDir: string, allowPrivateBpffs: boolean, log: pino.Logger): PinDirLock {
  ensureBpffs(pinDir);
  const sharing = pinDirSharing(pinDir);
  if (sharing.shared === false) {
    if (!allowPrivateBpffs) throw new PrivateBpffsError(pinDir, sharing.mount.mountPoint, sharing.mount.device);
    log.warn({ pinDir, mount: sharing.mount.mountPoint, device: sharing.mount.device },
      'the pin dir is on a bpffs private to this mount namespace (--allow-private-bpffs): the XDP programs detach and every pin goes when xlvsd exits');
  } else if (sharing.shared === undefined) {
    log.warn({ pinDir, reason: sharing.reason }, 'cannot tell whether the pin dir\'s bpffs outlives xlvsd');
  }
  return PinDirLock.acquire(pinDir, { create: true, action: 'refusing to start' })!;
}
