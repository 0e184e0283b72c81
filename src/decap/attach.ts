// SPDX-License-Identifier: Apache-2.0
// Attaching xlvs_decap to an interface and detaching it. The program, its maps and its XDP
// link are pinned (pins.ts), so the attachment stays when the command exits. Attaching again
// reuses the pinned maps (counters carry on), replaces the allow-list and swaps the new
// program into the existing link atomically; only a change of mode or of the interface
// itself needs a new link.

import { mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import { BpfObject } from '../kernel/object.js';
import { ensureBpffs, pinExists, unpin } from '../kernel/bpffs.js';
import { XdpLink, type XdpMode } from '../kernel/link.js';
import { lib } from '../kernel/libbpf.js';
import { libc } from '../kernel/libc.js';
import { InvalidArgumentError } from '../errors.js';
import { ABI_LAYOUT } from '../gen/decap-abi.js';
import type { DecapAddress } from './address.js';
import { writeAllowList } from './allow-list.js';
import { DecapBusyError, DecapNotAttachedError } from './errors.js';
import { objectMaps } from './maps.js';
import { checkIfname, DECAP_PROG, devPins, type DevPins } from './pins.js';
import { anyProgId, modeOf, queryXdp } from './xdp-query.js';

export interface AttachOptions {
  dev: string;
  mode: XdpMode;
  /** Outer sources allowed to tunnel to us; empty: any source. */
  allow: DecapAddress[];
  pinDir: string;
  objectPath: string;
  log: Logger;
}

/** The interface's index in this network namespace; a missing one is the caller's mistake. */
export function devIndex(dev: string): number {
  const idx = libc.if_nametoindex(checkIfname('DEV', dev)) as number;
  if (idx === 0) throw new InvalidArgumentError('DEV', dev, 'no such interface in this network namespace');
  return idx;
}

export function attach(o: AttachOptions): void {
  const ifindex = devIndex(o.dev);
  ensureBpffs(o.pinDir);
  const pins = devPins(o.pinDir, o.dev);
  const fresh = !pinExists(pins.link);
  if (fresh) {
    // Never take an interface from a program someone else put there.
    const other = anyProgId(queryXdp(ifindex));
    if (other !== 0) throw new DecapBusyError(o.dev, other);
  }
  mkdirSync(pins.maps, { recursive: true });
  const obj = BpfObject.open(o.objectPath, { pinRoot: pins.maps });
  try {
    obj.verifyAbi(ABI_LAYOUT);
    obj.load();
    // The list is in force before the program can see a packet (or, on a re-attach, before
    // the new program replaces the old one, which shares these maps).
    writeAllowList(objectMaps(obj), o.allow);
    obj.pinProgram(DECAP_PROG, pins.prog);
    placeLink(obj.programFd(DECAP_PROG), ifindex, o, pins);
    o.log.info({ dev: o.dev, ifindex, mode: o.mode, allow: o.allow.map((a) => a.text), pins: pins.dir, fresh }, 'xlvs_decap attached');
  } catch (e) {
    // A first attach that failed leaves nothing behind; a failed re-attach leaves the old one.
    if (fresh) unpin(pins.dir);
    throw e;
  } finally {
    obj.close();
  }
}

function placeLink(progFd: number, ifindex: number, o: AttachOptions, pins: DevPins): void {
  const old = XdpLink.open(pins.link);
  if (old) {
    const info = old.info();
    const mode = info.ifindex === ifindex ? modeOf(queryXdp(ifindex), info.progId) : null;
    if (mode === o.mode) {
      old.update(progFd);
      old.close();
      o.log.debug({ dev: o.dev, link: info.id }, 'xdp link updated in place');
      return;
    }
    // The mode is fixed when a link is made, and a link cannot move to another interface
    // (or one re-created under the same name): packets go untreated for a moment here.
    o.log.warn({ dev: o.dev, from: mode, to: o.mode, oldIfindex: info.ifindex, ifindex }, 'replacing the xdp link');
    old.destroy();
  }
  XdpLink.attach(progFd, ifindex, o.mode, pins.link).close();
}

/** Detaches the program from dev and removes its pins (counters and allow-list go with them). */
export function detach(dev: string, pinDir: string, log: Logger): void {
  const pins = devPins(pinDir, checkIfname('DEV', dev));
  if (!pinExists(pins.dir)) throw new DecapNotAttachedError(dev, pinDir);
  const link = XdpLink.open(pins.link);
  const id = link?.info().id;
  link?.destroy();
  unpin(pins.dir);
  log.info({ dev, link: id, pins: pins.dir }, 'xlvs_decap detached');
}
