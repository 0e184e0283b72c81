// SPDX-License-Identifier: Apache-2.0
// How an error thrown behind the API becomes a gRPC status. Clients get the gRPC code that
// fits, a message naming field and value, and the stable xlvs code in trailing metadata.

import * as grpc from '@grpc/grpc-js';
import { CapacityError, ConfigError, InvalidArgumentError, NotFoundError, XlvsError } from '../errors.js';

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

export function errorToStatus(err: unknown): MappedStatus {
  if (err instanceof InvalidArgumentError) {
    return { code: grpc.status.INVALID_ARGUMENT, xlvsCode: err.code, details: err.message };
  }
  if (err instanceof NotFoundError) {
    return { code: grpc.status.NOT_FOUND, xlvsCode: err.code, details: err.message };
  }
  if (err instanceof CapacityError) {
    return { code: grpc.status.RESOURCE_EXHAUSTED, xlvsCode: err.code, details: err.message };
  }
  if (err instanceof ConfigError) {
    // The request was fine but the daemon's own configuration stops it from acting.
    return { code: grpc.status.FAILED_PRECONDITION, xlvsCode: err.code, details: err.message };
  }
  if (err instanceof XlvsError) {
    // BpfError, VerifierError, AbiMismatchError, ...: the daemon or kernel failed, not the caller.
    return { code: grpc.status.INTERNAL, xlvsCode: err.code, details: err.message };
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
