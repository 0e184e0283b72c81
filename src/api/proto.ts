// SPDX-License-Identifier: Apache-2.0
// Loads proto/xlvs/v1/xlvs.proto at runtime (no generated code to keep in sync) for both the
// server and the client, with one fixed set of loader options that wire.ts is written against.

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fromRoot } from '../paths.js';

/**
 * The repo's proto/ directory. This file runs as dist/src/api/proto.js, so the repo root is
 * three levels up; resolving from import.meta.url keeps it independent of the working dir.
 */
export const PROTO_ROOT = fromRoot('proto');
export const PROTO_FILE = 'xlvs/v1/xlvs.proto';

/** Decoding options wire.ts relies on. Changing one changes every message shape. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true, // field names as in the .proto (snake_case), matching the model's counters
  longs: String, // uint64 counters exceed 2^53; strings stay exact and map to bigint
  enums: String, // enum names, so logs and errors read "PROTOCOL_TCP", not 1
  defaults: true, // absent scalars read as their zero value rather than undefined
  oneofs: true, // proto3 `optional` fields report presence (needed for Real.weight)
  includeDirs: [PROTO_ROOT],
};

export interface XlvsProto {
  /** The service definition a grpc.Server registers handlers against. */
  service: grpc.ServiceDefinition;
  /** The generic client constructor for xlvs.v1.Xlvs. */
  Client: grpc.ServiceClientConstructor;
}

let cached: XlvsProto | undefined;

/** Parses the proto once per process; both server and client share the result. */
export function loadXlvsProto(): XlvsProto {
  if (cached === undefined) {
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO_FILE, LOADER_OPTIONS));
    const v1 = (pkg.xlvs as grpc.GrpcObject).v1 as grpc.GrpcObject;
    const Client = v1.Xlvs as grpc.ServiceClientConstructor;
    cached = { service: Client.service, Client };
  }
  return cached;
}
