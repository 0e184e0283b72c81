// SPDX-License-Identifier: Apache-2.0
// Errors of xlvs-decap, each with a stable code.

import { XlvsError } from '../errors.js';

/** Nothing of xlvs-decap is pinned for this interface. */
export class DecapNotAttachedError extends XlvsError {
  constructor(readonly dev: string, pinDir: string) {
    super('E_DECAP_NOT_ATTACHED', `DEV: xlvs-decap is not attached to ${JSON.stringify(dev)} (nothing under ${pinDir})`);
  }
}

/** The interface already runs an XDP program that is not ours; we do not replace it. */
export class DecapBusyError extends XlvsError {
  constructor(readonly dev: string, readonly progId: number) {
    super('E_DECAP_BUSY', `DEV: ${JSON.stringify(dev)} already runs XDP program id ${progId}, not attached by xlvs-decap; remove it first`);
  }
}
