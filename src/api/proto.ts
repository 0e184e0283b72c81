// SPDX-License-Identifier: Apache-2.0
// Loads proto/xlvs/v1/xlvs.proto at run time for both the server and the client, with one fixed
// set of loader options. The message types in src/gen/proto/ are generated from the same file
// with the same options (Makefile, PROTO_GEN_FLAGS), so they describe exactly what this loader
// hands over.

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fromRoot } from '../paths.js';
import type { ProtoGrpcType } from '../gen/proto/xlvs.js';

/**
 * The repo's proto/ directory. This file runs as dist/src/api/proto.js, so the repo root is
 * three levels up; resolving from import.meta.url keeps it independent of the working dir.
 */
export const PROTO_ROOT = fromRoot('proto');
export const PROTO_FILE = 'xlvs/v1/xlvs.proto';

/** Decoding options; changing one changes every message shape: change PROTO_GEN_FLAGS with it. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true, // field names as in the .proto (snake_case), matching the model's counters
  longs: String, // uint64 counters exceed 2^53; strings stay exact and map to bigint
  enums: String, // enum names, so logs and errors read "PROTOCOL_TCP", not 1
  defaults: true, // absent scalars read as their zero value rather than undefined
  oneofs: true, // proto3 `optional` fields report presence (needed for Real.weight)
  includeDirs: [PROTO_ROOT],
};

type XlvsConstructor = ProtoGrpcType['xlvs']['v1']['Xlvs'];

export interface XlvsProto {
  /** The service definition a grpc.Server registers handlers against. */
  service: XlvsConstructor['service'];
  /** The typed client constructor for xlvs.v1.Xlvs. */
  Client: XlvsConstructor;
}

let cached: XlvsProto | undefined;

/** Parses the proto once per process; both server and client share the result. */
export function loadXlvsProto(): XlvsProto {
  if (cached === undefined) {
    // The generated ProtoGrpcType is the shape loadPackageDefinition returns for this proto.
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO_FILE, LOADER_OPTIONS)) as unknown as ProtoGrpcType;
    const Client = pkg.xlvs.v1.Xlvs;
    cached = { service: Client.service, Client };
  }
  return cached;
}
