// SPDX-License-Identifier: Apache-2.0
// Where xlvs-decap keeps its state: one bpffs directory per interface, so an attachment (and
// its counters and address sets) outlives the command that made it.
//   <pin dir>/<ifname>/link         the XDP bpf_link (its pin keeps the program attached)
//   <pin dir>/<ifname>/prog         the program
//   <pin dir>/<ifname>/maps/<name>  decap_stats, decap_allow, decap_local, decap_vips (pinned by libbpf)

import { join } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { fromRoot } from '../paths.js';

export const DEFAULT_DECAP_PIN_DIR = '/sys/fs/bpf/xlvs-decap';
// Compiled, this file is dist/src/decap/pins.js: the repo root is three levels up.
export const DEFAULT_DECAP_OBJECT = fromRoot('build/xlvs_decap.bpf.o');
export const DECAP_PROG = 'xlvs_decap';

/** IFNAMSIZ is 16 with the NUL; the kernel refuses "/", whitespace, ":" and the dot names. */
const IFNAME = /^[^/\s:]{1,15}$/;

export function checkIfname(field: string, name: string): string {
  if (typeof name !== 'string' || !IFNAME.test(name) || name === '.' || name === '..') {
    throw new InvalidArgumentError(field, name, 'must be an interface name (1..15 characters, no "/", ":" or spaces)');
  }
  return name;
}

export interface DevPins {
  dir: string;
  link: string;
  prog: string;
  maps: string;
}

export function devPins(pinDir: string, ifname: string): DevPins {
  const dir = join(pinDir, ifname);
  return { dir, link: join(dir, 'link'), prog: join(dir, 'prog'), maps: join(dir, 'maps') };
}
