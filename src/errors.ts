// SPDX-License-Identifier: Apache-2.0
// Every error xlvs raises is an XlvsError with a stable `code` a caller can switch on.

import { getSystemErrorName } from 'node:util';

export class XlvsError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The most of a value (characters of its JSON) that an error message or log line quotes. */
export const QUOTE_MAX_CHARS = 200;

/** A value's JSON; String() for what JSON cannot write (a bigint, a cycle). */
function json(value: unknown): string {
  try {
    return String(JSON.stringify(value));
  } catch {
    return String(value);
  }
}

/**
 * A value as errors and logs quote it: its JSON, cut after QUOTE_MAX_CHARS with the whole
 * value's size, e.g. `"aaaa"… (102400 bytes)`. A 100 KB address must not become a 100 KB gRPC
 * trailer, nor a 50 MB config string a 50 MB message and log line.
 */
export function quote(value: unknown): string {
  if (typeof value === 'string' && isQuote(value)) return value;
  // A long string is cut before it is escaped: its JSON would be as long again.
  if (typeof value === 'string' && value.length > QUOTE_MAX_CHARS) {
    return `${json(value.slice(0, QUOTE_MAX_CHARS))}… (${Buffer.byteLength(value)} bytes)`;
  }
  const text = json(value);
  return text.length <= QUOTE_MAX_CHARS ? text : `${text.slice(0, QUOTE_MAX_CHARS)}… (${Buffer.byteLength(text)} bytes of JSON)`;
}

/**
 * A cut quote, as quote() makes it: quoting it again changes nothing, so an error rebuilt from
 * another's fields (a config loaded on a worker thread) says the same.
 */
function isQuote(s: string): boolean {
  return s.length <= 6 * QUOTE_MAX_CHARS + 40 && /… \(\d+ bytes( of JSON)?\)$/.test(s);
}

/**
 * The value an error keeps (as its `value`, which loggers print whole): the value itself, or when
 * its quote had to be cut, that quote.
 */
export function boundedValue(value: unknown): unknown {
  if (typeof value === 'string') return value.length > QUOTE_MAX_CHARS ? quote(value) : value;
  if (value === null || typeof value !== 'object') return value;
  const q = quote(value);
  return q.length > QUOTE_MAX_CHARS ? q : value;
}

/** A config file (or config-shaped input) is wrong; names the field, value and position. */
export class ConfigError extends XlvsError {
  /** The value as given, or its cut quote when it is long (quote()). */
  readonly value: unknown;
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly field: string,
    value: unknown,
    readonly reason: string,
  ) {
    super('E_CONFIG', `${file}:${line}:${column}: ${field}: ${reason} (got ${quote(value)})`);
    this.value = boundedValue(value);
  }
}

/** Input over the API or CLI is wrong; names the field and value. Nothing was changed. */
export class InvalidArgumentError extends XlvsError {
  /** The value as given, or its cut quote when it is long (quote()). */
  readonly value: unknown;
  constructor(readonly field: string, value: unknown, readonly reason: string) {
    super('E_INVALID_ARGUMENT', `${field}: ${reason} (got ${quote(value)})`);
    this.value = boundedValue(value);
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

/** A map handed to the ring-buffer consumer (src/kernel/ringbuf.ts) is not a BPF_MAP_TYPE_RINGBUF. */
export class RingBufTypeError extends XlvsError {
  constructor(readonly fd: number, readonly mapName: string, readonly mapType: number) {
    super('E_RINGBUF_TYPE', `fd: map ${quote(mapName)} is of map type ${mapType}, not BPF_MAP_TYPE_RINGBUF (27) (got ${fd})`);
  }
}

/** A ring buffer's record header claims more than the producer wrote: the mapping is not a ring's. */
export class RingBufCorruptError extends XlvsError {
  constructor(readonly ring: string, readonly position: bigint, readonly header: number, readonly available: number) {
    super('E_RINGBUF_CORRUPT', `ring buffer ${ring}: the record at position ${position} has header 0x${header.toString(16)}, longer than the ${available} bytes written`);
  }
}

/** A ring buffer was consumed after close(). */
export class RingBufClosedError extends XlvsError {
  constructor(readonly ring: string) {
    super('E_RINGBUF_CLOSED', `ring buffer ${ring} is closed`);
  }
}

/** A capacity of the data plane (services, reals) would be exceeded. */
export class CapacityError extends XlvsError {
  constructor(readonly what: string, readonly limit: number, readonly requested?: number) {
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

/**
 * The pin dir holds maps another version of xlvs made, which this one declares otherwise (a
 * struct grew, an array has more slots): they cannot be adopted, and nothing was changed.
 */
export class PinnedMapsIncompatibleError extends XlvsError {
  constructor(readonly dir: string, readonly maps: ReadonlyArray<{ name: string; what: string }>) {
    super('E_PINNED_INCOMPATIBLE', `pin-dir: ${dir} holds a data plane of another xlvs version whose maps this one cannot adopt: ${maps.map((m) => `${m.name} (${m.what})`).join(', ')}; nothing was changed. To start this version, stop xlvsd, then run xlvsd --teardown --pin-dir ${dir} (detaches XDP and drops every connection and counter), or run the version that made them`);
  }
}

/** An interface the config names does not exist in this network namespace (xlvsd --check). */
export class InterfaceNotFoundError extends XlvsError {
  constructor(readonly field: string, readonly ifname: string) {
    super('E_NO_INTERFACE', `${field}: no interface of that name in this network namespace (got ${quote(ifname)})`);
  }
}

/**
 * A file xlvsd keeps its own state in (overrides.json) is damaged. `detail` follows the file
 * name directly: ": not valid JSON: ..." or "[2].real.port: must be ... (got 70000)".
 */
export class StateFileError extends XlvsError {
  constructor(readonly file: string, detail: string, options?: { cause?: unknown }) {
    super('E_STATE', `${file}${detail}`, options);
  }
}

/**
 * A state file is damaged and so is the version before it (`<file>.prev`): nothing saved can be
 * trusted, and starting empty would silently drop it. The message is the file's own error first.
 */
export class StateFileDamagedError extends XlvsError {
  constructor(readonly file: string, readonly current: Error, readonly previous: Error) {
    super('E_STATE', `${current.message}; its previous version is damaged too: ${previous.message}`, { cause: current });
  }
}

/** A map of a BPF object was sized after the object was loaded (a bug: sizes come first). */
export class AlreadyLoadedError extends XlvsError {
  constructor(readonly map: string, readonly object: string) {
    super('E_LOADED', `map ${map}: ${object} is already loaded; sizes are set before load()`);
  }
}

/** A map of a BPF object was used before the object was loaded (a bug). */
export class NotLoadedError extends XlvsError {
  constructor(readonly map: string, readonly object: string) {
    super('E_NOT_LOADED', `map ${map}: ${object} is not loaded yet`);
  }
}

/** A pin dir is not on a bpffs mount, so nothing pinned there would outlive the process. */
export class BpffsError extends XlvsError {
  constructor(readonly dir: string, readonly mounts: readonly string[]) {
    super('E_BPFFS', `pin dir ${dir} is not under a bpffs mount (mounted: ${mounts.join(', ') || 'none'})`);
  }
}

/**
 * Another process (an xlvsd, or an `xlvsd --teardown`) holds the pin dir's lock: one daemon owns
 * a data plane. `pid` is undefined when the kernel does not show the holder to us.
 */
export class PinDirOwnedError extends XlvsError {
  constructor(readonly dir: string, readonly pid: number | undefined, action = 'refusing to start') {
    const who = pid === undefined ? 'another process (PID not visible here)' : `PID ${pid}`;
    super('E_PIN_DIR_OWNED', `pin-dir: ${dir} is owned by ${who}; ${action}: one xlvsd per pin dir, stop that one first (got ${JSON.stringify(dir)})`);
  }
}

/**
 * The bpffs under the pin dir belongs to a private mount namespace (`ip netns exec` remounts
 * /sys): every pin would vanish, and XDP detach, when the daemon exits.
 */
export class PrivateBpffsError extends XlvsError {
  constructor(readonly dir: string, readonly mount: string, readonly device: string) {
    super('E_BPFFS_PRIVATE', `pin-dir: ${dir} is on a bpffs (${mount}, device ${device}) that PID 1's mount namespace does not have, so the data plane would be detached when xlvsd exits (\`ip netns exec\` remounts /sys: run xlvsd with \`nsenter --net=/run/netns/NAME\` instead, or pass --allow-private-bpffs to accept it) (got ${JSON.stringify(dir)})`);
  }
}

/** inNetns() was given an async function: the namespace switch would not cover its awaits. */
export class NetnsAsyncError extends XlvsError {
  constructor(readonly nsPath: string) {
    super('E_NETNS_ASYNC', `inNetns(${nsPath}): fn returned a promise; it must be synchronous`);
  }
}

/** A SYN probe batch took other than one slot per run of the builder (a data-plane bug). */
export class ProbeBatchError extends XlvsError {
  constructor(readonly runs: number, readonly slots: number) {
    super('E_PROBE_BATCH', `probe_batch: ${runs} runs took ${slots} slots; each run must take one`);
  }
}

/**
 * A netlink request (src/host/) failed: the kernel refused it (errno and, when it gave one, its
 * own explanation), or no valid answer came in time. Names the request in ip(8)'s words.
 */
export class NetlinkError extends XlvsError {
  constructor(readonly request: string, readonly errno: number, readonly kernelMessage = '') {
    super('E_NETLINK', `${request} failed: ${errnoText(errno)}${kernelMessage ? `: ${kernelMessage}` : ''}`);
  }
}

/** Reading or writing a sysctl under /proc/sys failed; names the sysctl and the value. */
export class SysctlError extends XlvsError {
  constructor(readonly sysctl: string, readonly errno: number, readonly value?: string, options?: { cause?: unknown }) {
    super('E_SYSCTL', `${value === undefined ? 'reading' : `writing ${quote(value)} to`} sysctl ${sysctl} failed: ${errnoText(errno)}`, options);
  }
}

/** "ENOENT (errno 2)": the symbolic name a reader looks up, and the number. */
function errnoText(errno: number): string {
  let name = 'unknown errno';
  try {
    name = getSystemErrorName(-errno);
  } catch {
    // not a valid errno: keep the number alone
  }
  return `${name} (errno ${errno})`;
}

/**
 * High availability: E_HA_OFF (no `ha:` in the config), E_HA_NOT_MASTER (a failover asked of a
 * backup), E_HA_PEER_DOWN (nobody to hand over to), E_HA_MESSAGE (a heartbeat or sync message
 * refused; its reason in the message), E_HA_SYNC (the sync channel failed).
 */
export class HaError extends XlvsError {
  constructor(code: 'E_HA_OFF' | 'E_HA_NOT_MASTER' | 'E_HA_PEER_DOWN' | 'E_HA_MESSAGE' | 'E_HA_SYNC', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
