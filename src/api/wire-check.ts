// SPDX-License-Identifier: Apache-2.0
// Requests are checked against the proto's wire format before protobufjs decodes them. Its
// decoders never compare a field's wire type with the field's type: a port sent as the string
// "80" (length-delimited: a length byte 2, then "80") was read as the varint 2, then the text as
// further fields. And what it cannot decode at all grpc-js answers INTERNAL, as if it were our
// bug. Here every field of a known number must come with its type's wire type (and a 32-bit
// integer within 32 bits, a string in UTF-8); unknown fields (a newer client's) are skipped when
// well formed. A failure is an InvalidArgumentError naming the field path (`real.port`), as the
// converters (convert.ts) name it, or the request type when no field can be named.

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { InvalidArgumentError } from '../errors.js';
import { LOADER_OPTIONS, PROTO_FILE } from './proto.js';

/** The parts of a google.protobuf.DescriptorProto (as proto-loader hands it over) read here. */
interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
}
interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType?: MessageDescriptor[];
}

/** A request that could not be decoded: the handler answers INVALID_ARGUMENT with `error`. */
export class UndecodableRequest {
  constructor(readonly error: InvalidArgumentError) {}
}

const VARINT = 0;
const FIXED64 = 1;
const LENGTH = 2;
const FIXED32 = 5;
const WIRE_NAMES: Record<number, string> = { 0: 'varint', 1: '64-bit', 2: 'length-delimited', 3: 'group start', 4: 'group end', 5: '32-bit' };
const WIRE_OF: Record<string, number> = {
  TYPE_INT32: VARINT, TYPE_INT64: VARINT, TYPE_UINT32: VARINT, TYPE_UINT64: VARINT, TYPE_SINT32: VARINT,
  TYPE_SINT64: VARINT, TYPE_BOOL: VARINT, TYPE_ENUM: VARINT,
  TYPE_FIXED64: FIXED64, TYPE_SFIXED64: FIXED64, TYPE_DOUBLE: FIXED64,
  TYPE_STRING: LENGTH, TYPE_BYTES: LENGTH, TYPE_MESSAGE: LENGTH,
  TYPE_FIXED32: FIXED32, TYPE_SFIXED32: FIXED32, TYPE_FLOAT: FIXED32,
};
const UTF8 = new TextDecoder('utf-8', { fatal: true });
/** Nesting beyond this is refused (protobuf's own default recursion limit). */
const MAX_DEPTH = 100;

const wireName = (w: number): string => `${WIRE_NAMES[w] ?? 'invalid'} (wire type ${w})`;
const typeName = (t: string): string => t.replace(/^TYPE_/, '').toLowerCase();

/** Every message type of the proto by full name, nested ones (map entries) included. */
function messageIndex(): Map<string, MessageDescriptor> {
  const index = new Map<string, MessageDescriptor>();
  const add = (name: string, d: MessageDescriptor): void => {
    index.set(name, d);
    for (const n of d.nestedType ?? []) add(`${name}.${n.name}`, n);
  };
  for (const [name, def] of Object.entries(protoLoader.loadSync(PROTO_FILE, LOADER_OPTIONS))) {
    const type = (def as { type?: MessageDescriptor }).type;
    if (type !== undefined && Array.isArray(type.field)) add(name, type);
  }
  return index;
}

/** Reads one message's bytes field by field; throws InvalidArgumentError at the first problem. */
class WireReader {
  constructor(private readonly index: Map<string, MessageDescriptor>, private readonly request: string) {}

  message(buf: Buffer, fullName: string, path: string, depth: number): void {
    const d = this.index.get(fullName);
    if (d === undefined) throw new Error(`no message type ${fullName} in ${PROTO_FILE}`);
    if (depth > MAX_DEPTH) throw this.error(path, buf, `nests messages deeper than ${MAX_DEPTH}`);
    const fields = new Map(d.field.map((f) => [f.number, f]));
    let at = 0;
    while (at < buf.length) {
      const tag = this.varint(buf, at, path);
      at = tag.next;
      if (tag.value >> 3n === 0n || tag.value >> 3n > 0x1fffffffn) {
        throw this.error(path || this.request, buf.toString('hex'), `has an invalid field number ${tag.value >> 3n}`);
      }
      const number = Number(tag.value >> 3n);
      const wire = Number(tag.value & 7n);
      const f = fields.get(number);
      const fieldPath = f === undefined ? `${path || this.request}#${number}` : path === '' ? f.name : `${path}.${f.name}`;
      const { start, end } = this.fieldExtent(buf, at, wire, fieldPath);
      if (f !== undefined) this.field(f, buf.subarray(start, end), wire, fullName, fieldPath, depth);
      at = end;
    }
  }

  private field(f: FieldDescriptor, bytes: Buffer, wire: number, scope: string, path: string, depth: number): void {
    const want = WIRE_OF[f.type];
    const packed = f.label === 'LABEL_REPEATED' && wire === LENGTH && (want === VARINT || want === FIXED32 || want === FIXED64);
    if (want === undefined || (wire !== want && !packed)) {
      const shown = wire === LENGTH ? bytes.toString('utf8') : bytes.toString('hex');
      throw this.error(path, shown, `must be a ${typeName(f.type)}, sent as ${wireName(want ?? -1)}, not as ${wireName(wire)}`);
    }
    if (packed) return; // well-formed (fieldExtent() found its length); numbers need no further check
    if (f.type === 'TYPE_STRING') {
      try {
        UTF8.decode(bytes);
      } catch {
        throw this.error(path, bytes.toString('hex'), 'must be UTF-8 text');
      }
    } else if (f.type === 'TYPE_MESSAGE') {
      this.message(bytes, this.resolve(f.typeName, scope), path, depth + 1);
    } else if (wire === VARINT && (f.type === 'TYPE_UINT32' || f.type === 'TYPE_INT32' || f.type === 'TYPE_ENUM')) {
      const v = this.varint(bytes, 0, path).value;
      const ok = f.type === 'TYPE_UINT32' ? v < 2n ** 32n : v < 2n ** 31n || v >= 2n ** 64n - 2n ** 31n;
      if (!ok) throw this.error(path, v.toString(), `must be a ${typeName(f.type)}: the value does not fit 32 bits`);
    }
  }

  /** The full name of a field's message type, looked up from its own message outwards. */
  private resolve(name: string, scope: string): string {
    if (name.startsWith('.')) return name.slice(1);
    for (let s = scope; s !== ''; s = s.includes('.') ? s.slice(0, s.lastIndexOf('.')) : '') {
      if (this.index.has(`${s}.${name}`)) return `${s}.${name}`;
    }
    return name;
  }

  /** Where the value of a field that starts at `at` begins (past a length) and ends. */
  private fieldExtent(buf: Buffer, at: number, wire: number, path: string): { start: number; end: number } {
    switch (wire) {
      case VARINT:
        return { start: at, end: this.varint(buf, at, path).next };
      case FIXED64:
      case FIXED32: {
        const end = at + (wire === FIXED64 ? 8 : 4);
        if (end > buf.length) throw this.error(path, buf.subarray(at).toString('hex'), `is cut short: ${wireName(wire)} needs ${end - at} bytes, ${buf.length - at} remain`);
        return { start: at, end };
      }
      case LENGTH: {
        const len = this.varint(buf, at, path);
        const end = len.next + Number(len.value);
        if (len.value > BigInt(buf.length) || end > buf.length) {
          throw this.error(path, buf.subarray(len.next).toString('hex'), `is cut short: its length says ${len.value} bytes, ${buf.length - len.next} remain`);
        }
        return { start: len.next, end };
      }
      default:
        throw this.error(path, wire, `has ${wireName(wire)}, which this API does not use`);
    }
  }

  private varint(buf: Buffer, at: number, path: string): { value: bigint; next: number } {
    let value = 0n;
    for (let i = 0; i < 10; i++) {
      if (at + i >= buf.length) throw this.error(path || this.request, buf.subarray(at).toString('hex'), 'is cut short inside a varint');
      const b = buf[at + i]!;
      value |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) {
        if (i === 9 && b > 1) break;
        return { value, next: at + i + 1 };
      }
    }
    throw this.error(path || this.request, buf.subarray(at, at + 10).toString('hex'), 'has a varint longer than 64 bits');
  }

  private error(field: string, value: unknown, reason: string): InvalidArgumentError {
    return new InvalidArgumentError(field, value, `${reason}; the ${this.request} was not decoded`);
  }
}

let index: Map<string, MessageDescriptor> | undefined;

/**
 * The service definition with each method's request checked (WireReader) before it is decoded:
 * a request that fails reaches the handler as an UndecodableRequest, never as grpc-js's INTERNAL.
 */
export function checkedService(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  index ??= messageIndex();
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [method, def] of Object.entries(service)) {
    // path "/xlvs.v1.Xlvs/AddReal": the request type lives in package xlvs.v1.
    const pkg = def.path.slice(1, def.path.lastIndexOf('/')).split('.').slice(0, -1).join('.');
    const request = (def as { requestType?: { type?: { name?: string } } }).requestType?.type?.name ?? `${method}Request`;
    const reader = new WireReader(index, request);
    out[method] = {
      ...def,
      requestDeserialize: (buf: Buffer): unknown => {
        try {
          reader.message(buf, `${pkg}.${request}`, '', 0);
          return def.requestDeserialize(buf);
        } catch (err) {
          if (err instanceof InvalidArgumentError) return new UndecodableRequest(err);
          const reason = err instanceof Error ? err.message : String(err);
          return new UndecodableRequest(new InvalidArgumentError(request, buf.toString('hex'), `cannot be decoded: ${reason}`));
        }
      },
    };
  }
  return out;
}
