// SPDX-License-Identifier: Apache-2.0
// The generated `...__Output` message types (src/gen/proto/) say what a receiver gets from
// @grpc/proto-loader with enums: String, except in one case: an enum number this schema does not
// know (a newer peer's value) arrives as the number, not as a name. The *FromWire converters take
// messages through Received so that case stays in the type they must check.

/** `T` with every enum-name field widened to also hold a raw number; everything else as is. */
export type Received<T> =
  T extends string ? (string extends T ? T : T | number)
  : T extends readonly (infer U)[] ? Received<U>[]
  : T extends object ? { [K in keyof T]: Received<T[K]> }
  : T;
