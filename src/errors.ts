// SPDX-License-Identifier: Apache-2.0
// Every error xlvs raises is an XlvsError with a stable `code` a caller can switch on.

export class XlvsError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A config file (or config-shaped input) is wrong; names the field, value and position. */
export class ConfigError extends XlvsError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly field: string,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super('E_CONFIG', `${file}:${line}:${column}: ${field}: ${reason} (got ${JSON.stringify(value)})`);
  }
}

/** Input over the API or CLI is wrong; names the field and value. Nothing was changed. */
export class InvalidArgumentError extends XlvsError {
  constructor(readonly field: string, readonly value: unknown, readonly reason: string) {
    super('E_INVALID_ARGUMENT', `${field}: ${reason} (got ${JSON.stringify(value)})`);
  }
}

/** A named object (service, real) does not exist. */
export class NotFoundError extends XlvsError {
  constructor(what: string, readonly id: string) {
    super('E_NOT_FOUND', `${what} ${id} not found`);
  }
}

/** A libbpf or syscall failed. errno is positive. */
export class BpfError extends XlvsError {
  constructor(readonly op: string, readonly errno: number, detail = '') {
    super('E_BPF', `${op} failed: errno ${errno}${detail ? `: ${detail}` : ''}`);
  }
}

/** The verifier rejected a program; `log` holds the tail of its log. */
export class VerifierError extends XlvsError {
  constructor(readonly errno: number, readonly log: string) {
    super('E_VERIFIER', `BPF object load failed (errno ${errno}); verifier log tail:\n${log}`);
  }
}

/** The object's BTF disagrees with the generated TypeScript codecs. */
export class AbiMismatchError extends XlvsError {
  constructor(detail: string) {
    super('E_ABI_MISMATCH', `ABI mismatch between bpf object and generated codecs: ${detail}`);
  }
}

/** A capacity of the data plane (services, reals) would be exceeded. */
export class CapacityError extends XlvsError {
  constructor(what: string, limit: number, requested?: number) {
    const asked = requested === undefined ? '' : ` (the change needs ${requested})`;
    super('E_CAPACITY', `too many ${what}: the data plane holds at most ${limit}${asked}`);
  }
}

/** The config's flow_entries differs from the size of the pinned connection table in use. */
export class FlowTableSizeError extends XlvsError {
  constructor(readonly pinned: number, readonly configured: number) {
    super('E_FLOW_TABLE_SIZE', `flow_entries: the pinned connection table has ${pinned} entries and cannot be resized while it holds connections; set flow_entries: ${pinned}, or run xlvsd --teardown (drops every connection) to start with ${configured} (got ${configured})`);
  }
}
