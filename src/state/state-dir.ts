// SPDX-License-Identifier: Apache-2.0
// A state dir that vanished under a running data plane. xlvsd makes its state dir at every
// start, so a restart that adopts pinned maps (an earlier xlvsd ran here since boot) but finds no
// state dir means it was deleted, or --state-dir changed: the API's changes saved there are gone
// and the data plane is about to follow the config file alone.
//
// Why a loud warning and not a refusal or a second copy: bpffs holds no regular files, so the
// only place a copy survives with the pins is another directory that can be deleted as well; and
// an admin who wiped the dir to reset the API's changes expects the router to come back on its
// config, while one who lost it by accident needs to be told what went, at start, in the log.

import type { Logger } from 'pino';

export interface StateDirAtStart {
  stateDir: string;
  /** Whether the state dir existed before this start made it. */
  found: boolean;
  /** Whether the pinned data plane of an earlier run was adopted. */
  adopted: boolean;
  pinDir: string;
}

/** The state dir lost while the data plane ran on: true after saying so (a warning). */
export function warnIfStateLost(s: StateDirAtStart, log: Pick<Logger, 'warn'>): boolean {
  if (s.found || !s.adopted) return false;
  log.warn(
    { stateDir: s.stateDir, pinDir: s.pinDir, lost: ['overrides.json', 'health.json'] },
    `state dir ${s.stateDir} is gone while the data plane pinned at ${s.pinDir} ran on: the reals added, removed or reweighted over the API (overrides.json) and the saved health states (health.json) are lost; the data plane now follows the config file alone`,
  );
  return true;
}
