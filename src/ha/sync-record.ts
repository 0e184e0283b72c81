// SPDX-License-Identifier: Apache-2.0
// The records of the data plane's sync ring (bpf/ha.h sync_emit, struct xlvs_sync_rec): one per
// flow made (NEW), changed or refreshed (UPDATE) and ended (END), while ha.flags has
// XLVS_HA_F_SYNC. fk/fv are the connection's forward entry, rk/rv its reply entry; an END's
// values are zero. Read with src/kernel/ringbuf.ts (RingBuf.open(dataplane.syncRingFd)).

import { InvalidArgumentError } from '../errors.js';
import { XLVS_SYNC_END, XLVS_SYNC_NEW, XLVS_SYNC_UPDATE, XlvsSyncRec } from '../gen/abi.js';

export type { XlvsSyncRec } from '../gen/abi.js';

/** Decodes one ring record (a RecordHandler's record and len); the view is copied out. */
export function decodeSyncRecord(record: Buffer, len = record.length): XlvsSyncRec {
  if (len < XlvsSyncRec.size || record.length < XlvsSyncRec.size) {
    throw new InvalidArgumentError('record', len, `a sync record has ${XlvsSyncRec.size} bytes`);
  }
  const r = XlvsSyncRec.decode(record, 0);
  if (r.kind !== XLVS_SYNC_NEW && r.kind !== XLVS_SYNC_UPDATE && r.kind !== XLVS_SYNC_END) {
    throw new InvalidArgumentError('record.kind', r.kind, 'must be an enum xlvs_sync_kind');
  }
  return r;
}
