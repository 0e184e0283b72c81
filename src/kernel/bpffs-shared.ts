// SPDX-License-Identifier: Apache-2.0
// Is the bpffs under a pin dir the host's? Pins outlive xlvsd only while their bpffs stays
// mounted somewhere. `ip netns exec` runs a command in a new mount namespace with /sys mounted
// afresh, so /sys/fs/bpf there is a bpffs xlvsd mounts itself (ensureBpffs), private to that
// namespace: when the process exits the namespace goes, the bpffs with it, and so do the pinned
// links, i.e. the XDP programs detach. Every bpffs mount is its own superblock, so the device
// (MAJOR:MINOR in mountinfo) of the mount holding the pin dir tells them apart: the pins
// are shared when PID 1's mount namespace has a bpf mount of the same device.

import { readFileSync, realpathSync } from 'node:fs';

export interface Mount {
  device: string;
  mountPoint: string;
  fsType: string;
}

/** /proc/PID/mountinfo: "53 23 0:40 / /sys/fs/bpf rw,relatime - bpf bpf rw" (optional fields before "-"). */
export function parseMountinfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (f.length < 7 || sep < 0) continue;
    out.push({ device: f[2]!, mountPoint: unescape(f[4]!), fsType: f[sep + 1]! });
  }
  return out;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The mount `path` lives on: the last-mounted of those with the longest mount point covering it. */
export function mountOf(path: string, mounts: readonly Mount[]): Mount | undefined {
  let best: Mount | undefined;
  for (const m of mounts) {
    const p = m.mountPoint;
    const covers = path === p || p === '/' || path.startsWith(p + '/');
    if (covers && (best === undefined || p.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

export type BpffsSharing =
  | { shared: true; mount: Mount }
  | { shared: false; mount: Mount }
  /** Not a bpffs, or PID 1's mounts could not be read: the caller cannot tell. */
  | { shared: undefined; mount: Mount | undefined; reason: string };

/** Pure: where `path` is mounted in our namespace (selfInfo) and whether PID 1's (initInfo) has that bpffs. */
export function bpffsSharing(path: string, selfInfo: string, initInfo: string): BpffsSharing {
  const mount = mountOf(path, parseMountinfo(selfInfo));
  if (mount?.fsType !== 'bpf') return { shared: undefined, mount, reason: `${path} is not on a bpffs` };
  const shared = parseMountinfo(initInfo).some((m) => m.fsType === 'bpf' && m.device === mount.device);
  return { shared, mount };
}

/** bpffsSharing for an existing `dir`, from /proc/self and /proc/1. */
export function pinDirSharing(dir: string): BpffsSharing {
  const path = realpathSync(dir);
  const self = readFileSync('/proc/self/mountinfo', 'utf8');
  let init: string;
  try {
    init = readFileSync('/proc/1/mountinfo', 'utf8');
  } catch (e) {
    return { shared: undefined, mount: mountOf(path, parseMountinfo(self)), reason: `reading /proc/1/mountinfo failed: ${(e as Error).message}` };
  }
  return bpffsSharing(path, self, init);
}
