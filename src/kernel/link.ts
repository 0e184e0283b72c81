// SPDX-License-Identifier: Apache-2.0
// XDP attachment through a BPF link. The link is pinned, so the program stays
// attached when the daemon exits; a restarted daemon swaps its new program
// into the same link atomically (no packet sees "no program").

import { lib, check, checkLibc, BPF_XDP, XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE } from './libbpf.js';
import { libc } from './libc.js';
import { BpfError } from '../errors.js';
import { pinExists, unpin } from './bpffs.js';
import { linkInfoOf } from './obj-info.js';
import { bpfLinkCreateOpts, libbpfOpts } from './structs.js';

export type XdpMode = 'native' | 'generic';

export function ifindexOf(ifname: string): number {
  const idx = libc.if_nametoindex(ifname);
  if (idx === 0) throw new BpfError('if_nametoindex', 19 /* ENODEV */, `no interface named ${JSON.stringify(ifname)}`);
  return idx;
}

export interface LinkInfo {
  id: number;
  progId: number;
  ifindex: number;
}

function linkInfo(fd: number): LinkInfo {
  const info = linkInfoOf(fd, 'link info');
  return { id: info.id, progId: info.prog_id, ifindex: info.u.xdp.ifindex };
}

export class XdpLink {
  private constructor(readonly fd: number, readonly path: string) {}

  /** Attaches prog to ifindex and pins the link at path (replacing a stale pin). */
  static attach(progFd: number, ifindex: number, mode: XdpMode, path: string): XdpLink {
    const opts = libbpfOpts(bpfLinkCreateOpts, { flags: mode === 'native' ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE });
    const fd = check(`attach xdp to ifindex ${ifindex} (${mode})`, lib.link_create(progFd, ifindex, BPF_XDP, opts));
    if (pinExists(path)) unpin(path);
    const rc = lib.obj_pin(fd, path);
    if (rc < 0) {
      libc.close(fd);
      check(`pin link ${path}`, rc);
    }
    return new XdpLink(fd, path);
  }

  /** Opens a pinned link, or returns null when there is none. */
  static open(path: string): XdpLink | null {
    if (!pinExists(path)) return null;
    const fd = lib.obj_get(path);
    if (fd < 0) check(`open link ${path}`, fd);
    return new XdpLink(fd, path);
  }

  info(): LinkInfo {
    return linkInfo(this.fd);
  }

  /** Atomically replaces the attached program. */
  update(progFd: number): void {
    check(`update link ${this.path}`, lib.link_update(this.fd, progFd, null));
  }

  close(): void {
    checkLibc('close link', libc.close(this.fd));
  }

  /** Detaches: removing the last reference (the pin, then our fd) destroys the link. */
  destroy(): void {
    unpin(this.path);
    this.close();
  }
}
