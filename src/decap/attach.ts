// SPDX-License-Identifier: Apache-2.0
// Attaching xlvs_decap to an interface and detaching it. The program, its maps and its XDP
// link are pinned (pins.ts), so the attachment stays when the command exits. Attaching again
// reuses the pinned maps (counters carry on), replaces the address sets (allow-list, local
// addresses read afresh, VIPs) and swaps the new program into the existing link atomically; only a change of mode or of the interface
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
import { writeAddressSets } from './address-sets.js';
import { localAddresses } from './local-addresses.js';
import { DecapBusyError, DecapNotAttachedError } from './errors.js';
import { objectMaps } from './maps.js';
import { checkIfname, DECAP_PROG, devPins, type DevPins } from './pins.js';
import { anyProgId, modeOf, queryXdp } from './xdp-query.js';

export interface AttachOptions {
  dev: string;
  mode: XdpMode;
  /** Outer sources allowed to tunnel to us (the LVS routers' local addresses); empty: none. */
  allow: DecapAddress[];
  /** The VIPs this real serves; each must be an address of this host (held on lo). */
  vips: DecapAddress[];
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

/** A VIP the host does not hold would be decapsulated for nothing (or forwarded on). */
function checkVipsHeld(vips: DecapAddress[], local: DecapAddress[]): void {
  const held = new Set(local.map((a) => a.text));
  const missing = vips.find((v) => !held.has(v.text));
  if (missing !== undefined) {
    const len = missing.family === 4 ? 32 : 128;
    throw new InvalidArgumentError('--vip', missing.text, `is not an address of this host: put it on lo first (ip addr add ${missing.text}/${len} dev lo)`);
  }
}

/** Attaches (or re-attaches); returns the host addresses taken as outer destinations. */
export function attach(o: AttachOptions): DecapAddress[] {
  const ifindex = devIndex(o.dev);
  const local = localAddresses();
  checkVipsHeld(o.vips, local);
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
    // The sets are in force before the program can see a packet (or, on a re-attach, before
    // the new program replaces the old one, which shares these maps).
    writeAddressSets(objectMaps(obj), { allow: o.allow, local, vips: o.vips });
    obj.pinProgram(DECAP_PROG, pins.prog);
    placeLink(obj.programFd(DECAP_PROG), ifindex, o, pins);
    const text = (l: DecapAddress[]): string[] => l.map((a) => a.text);
    o.log.info({ dev: o.dev, ifindex, mode: o.mode, allow: text(o.allow), local: text(local), vips: text(o.vips), pins: pins.dir, fresh }, 'xlvs_decap attached');
    return local;
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

/** Detaches the program from dev and removes its pins (counters and address sets go with them). */
export function detach(dev: string, pinDir: string, log: Logger): void {
  const pins = devPins(pinDir, checkIfname('DEV', dev));
  if (!pinExists(pins.dir)) throw new DecapNotAttachedError(dev, pinDir);
  const link = XdpLink.open(pins.link);
  const id = link?.info().id;
  link?.destroy();
  unpin(pins.dir);
  log.info({ dev, link: id, pins: pins.dir }, 'xlvs_decap detached');
}
