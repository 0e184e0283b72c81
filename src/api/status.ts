// SPDX-License-Identifier: Apache-2.0
// How an error thrown behind the API becomes a gRPC status. Clients get the gRPC code that
// fits, a message naming field and value, and the stable xlvs code in trailing metadata.

import * as grpc from '@grpc/grpc-js';
import { CapacityError, ConfigError, HaError, InvalidArgumentError, NotFoundError, XlvsError } from '../errors.js';

/** Trailing-metadata key carrying XlvsError.code (e.g. "E_INVALID_ARGUMENT"). */
export const ERROR_CODE_METADATA_KEY = 'xlvs-error-code';

/** Code sent for errors that are not XlvsErrors, i.e. bugs. */
export const INTERNAL_ERROR_CODE = 'E_INTERNAL';

export interface MappedStatus {
  code: grpc.status;
  /** The xlvs error code, also sent as metadata. */
  xlvsCode: string;
  details: string;
}

/**
 * The gRPC status of each error class a caller can act on. Every other XlvsError (BpfError,
 * VerifierError, StateFileError, ...) is the daemon's or the kernel's failure: INTERNAL.
 */
const STATUS_OF: readonly [new (...args: never[]) => XlvsError, grpc.status][] = [
  [InvalidArgumentError, grpc.status.INVALID_ARGUMENT],
  [NotFoundError, grpc.status.NOT_FOUND],
  [CapacityError, grpc.status.RESOURCE_EXHAUSTED],
  // The request was fine but the daemon's own configuration stops it from acting.
  [ConfigError, grpc.status.FAILED_PRECONDITION],
];

/**
 * HaError's codes a caller can act on (one class, several codes). Without `ha:`, or asking a
 * backup to fail over, the daemon's state stops it; a peer that is down may come back. The
 * others (E_HA_MESSAGE, E_HA_SYNC) are failures inside the daemon: INTERNAL.
 */
const HA_STATUS_OF: Readonly<Record<string, grpc.status>> = {
  E_HA_OFF: grpc.status.FAILED_PRECONDITION,
  E_HA_NOT_MASTER: grpc.status.FAILED_PRECONDITION,
  E_HA_PEER_DOWN: grpc.status.UNAVAILABLE,
};

export function errorToStatus(err: unknown): MappedStatus {
  if (err instanceof XlvsError) {
    const byCode = err instanceof HaError ? HA_STATUS_OF[err.code] : undefined;
    const code = byCode ?? STATUS_OF.find(([cls]) => err instanceof cls)?.[1] ?? grpc.status.INTERNAL;
    return { code, xlvsCode: err.code, details: err.message };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: grpc.status.INTERNAL, xlvsCode: INTERNAL_ERROR_CODE, details: `internal error: ${message}` };
}

/** The ServiceError-shaped object grpc-js expects from a failed unary handler. */
export function toServiceError(mapped: MappedStatus): grpc.ServerErrorResponse {
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_CODE_METADATA_KEY, mapped.xlvsCode);
  return Object.assign(new Error(mapped.details), { code: mapped.code, details: mapped.details, metadata });
}
