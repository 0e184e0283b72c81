// SPDX-License-Identifier: Apache-2.0
// Position-aware, type-strict access to a parsed YAML document.
//
// The schema rules (schema.ts) read the document only through a Walker, so every rejection
// carries the file, the 1-based line:column of the offending node and the dotted field path,
// and the rules themselves stay free of YAML-node bookkeeping. Every check throws at once:
// the rules walk the document in source order, so the first throw is the first problem.

import { Scalar, isAlias, isMap, isScalar, isSeq, visit } from 'yaml';
import type { Alias, Document, LineCounter, Node, YAMLMap, YAMLSeq } from 'yaml';
import { ConfigError } from '../errors.js';

/** Handles the value of one known key; `path` is the field path of that key. */
export type FieldHandler = (node: Node, path: string) => void;

/** `services` + `vip` → `services.vip`; the root has the empty path. */
export function childPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

export function itemPath(path: string, index: number): string {
  return `${path}[${index}]`;
}

const DECIMAL_INT = /^[-+]?[0-9]+$/;

/** Aliases one describe() expands at most, as yaml's toJS bounds them (an alias bomb is not expanded). */
const DESCRIBE_MAX_ALIASES = 100;

export class Walker {
  /** Every alias's anchored node, found in one pass over the document on first use. */
  private anchored: Map<Alias, Node | undefined> | undefined;

  constructor(
    readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** Throws a ConfigError positioned at a source offset. */
  failAt(offset: number, field: string, value: unknown, reason: string): never {
    const { line, col } = this.lines.linePos(offset);
    throw new ConfigError(this.file, line, col, field, value, reason);
  }

  /** Throws a ConfigError positioned at the start of `node`. */
  fail(node: Node, field: string, value: unknown, reason: string): never {
    this.failAt(node.range?.[0] ?? 0, field, value, reason);
  }

  /**
   * Follows an alias to its anchored node. Anchors let an admin share e.g. one `reals`
   * list between services; errors inside shared content point at the anchored original
   * (where the fix goes), while the field path names the place it was used.
   */
  resolve(node: Node, path: string): Node {
    if (!isAlias(node)) return node;
    const target = this.anchorOf(node);
    // yaml does not report an alias without a matching anchor; we must.
    if (target === undefined) this.fail(node, path, `*${node.source}`, 'alias refers to no anchor');
    return target;
  }

  /**
   * The node an alias refers to: the last node with its anchor before it in document order, as
   * yaml's Alias.resolve finds it. That walks the whole document on every call (thousands of
   * `reals: *r` took quadratic time), so every alias is looked up once, here, in one pass.
   */
  private anchorOf(alias: Alias): Node | undefined {
    if (this.anchored === undefined) {
      const latest = new Map<string, Node>();
      const anchored = new Map<Alias, Node | undefined>();
      visit(this.doc, {
        Node: (_key, n) => {
          if (isAlias(n)) anchored.set(n, latest.get(n.source));
          if (n.anchor) latest.set(n.anchor, n);
        },
      });
      this.anchored = anchored;
    }
    return this.anchored.get(alias);
  }

  /** The node as plain data (as yaml's toJS gives it), for check options and error reports. */
  describe(node: Node): unknown {
    if (isScalar(node)) return node.value;
    try {
      return this.plain(node, new Set(), { aliases: 0 });
    } catch {
      return String(node);
    }
  }

  /**
   * toJS with aliases looked up through anchorOf (toJS resolves each through yaml's whole-document
   * walk). `open` holds the collections being converted, so an alias to its own ancestor throws.
   */
  private plain(node: Node, open: Set<Node>, seen: { aliases: number }): unknown {
    if (isScalar(node)) return node.value;
    if (isAlias(node)) {
      const target = this.anchorOf(node);
      if (target === undefined || ++seen.aliases > DESCRIBE_MAX_ALIASES) throw new Error(`cannot expand *${node.source}`);
      return this.plain(target, open, seen);
    }
    if (open.has(node)) throw new Error('recursive alias');
    open.add(node);
    let out: unknown;
    if (isSeq(node)) out = (node.items as Node[]).map((n) => this.plain(n, open, seen));
    else if (isMap(node)) {
      const obj: Record<string, unknown> = {};
      for (const pair of node.items) {
        const key = pair.key === null ? null : this.plain(pair.key as Node, open, seen);
        const name = key === null ? '' : typeof key === 'object' ? JSON.stringify(key) : String(key);
        const value = pair.value === null ? null : this.plain(pair.value as Node, open, seen);
        // defineProperty: a key named __proto__ is data, as toJS makes it; a repeated key's last value wins.
        Object.defineProperty(obj, name, { value, writable: true, enumerable: true, configurable: true });
      }
      out = obj;
    } else out = String(node);
    open.delete(node);
    return out;
  }

  map(node: Node, path: string): YAMLMap {
    if (!isMap(node)) this.fail(node, path, this.describe(node), 'must be a mapping');
    return node;
  }

  /**
   * A list's items, aliases resolved. `site` is the item as written (the alias itself, if it
   * is one): errors about the item as a whole, like a duplicate, point there.
   * `nullIsEmpty` lets an admin leave `reals:` with every entry commented out.
   */
  seq(node: Node, path: string, nullIsEmpty = false): { node: Node; site: Node }[] {
    if (nullIsEmpty && isScalar(node) && node.value === null) return [];
    if (!isSeq(node)) this.fail(node, path, this.describe(node), 'must be a list');
    return (node as YAMLSeq<Node>).items.map((site, i) => ({ node: this.resolve(site, itemPath(path, i)), site }));
  }

  /**
   * Walks a mapping's pairs in source order, handing each known key's value to its handler.
   * Rejects unknown and duplicate keys at the key, then missing required keys at the mapping.
   */
  fields(node: Node, path: string, handlers: Record<string, FieldHandler>, required: readonly string[] = []): void {
    const map = this.map(node, path);
    const seen = new Set<string>();
    for (const pair of map.items) {
      const key = pair.key as Node | null;
      const keyOffset = key?.range?.[0] ?? map.range?.[0] ?? 0;
      const name = isScalar(key) ? String(key.value) : key === null ? '' : String(this.describe(key));
      const fieldPath = childPath(path, name);
      // Object.hasOwn, not `in`: a key named `constructor` must not find Object.prototype.
      if (!isScalar(key) || typeof key.value !== 'string' || !Object.hasOwn(handlers, name)) {
        this.failAt(keyOffset, fieldPath, name, 'unknown field');
      }
      if (seen.has(name)) this.failAt(keyOffset, fieldPath, name, 'duplicate field');
      seen.add(name);
      const handler = handlers[name] as FieldHandler;
      handler(this.resolve(this.valueOf(pair.value as Node | null, key), fieldPath), fieldPath);
    }
    for (const name of required) {
      if (!seen.has(name)) this.fail(map, childPath(path, name), undefined, 'required field missing');
    }
  }

  /** An integer written in decimal (so `0x50`, `1e3` and `80.0` are rejected, and `"80"` is a string). */
  int(node: Node, path: string, min: number, max: number, reason = `must be an integer ${min}..${max}`): number {
    if (!isScalar(node) || typeof node.value !== 'number') this.fail(node, path, this.describe(node), reason);
    const value = node.value as number;
    if (!DECIMAL_INT.test(node.source ?? '')) this.fail(node, path, node.source ?? value, reason);
    if (!Number.isInteger(value) || value < min || value > max) this.fail(node, path, value, reason);
    return value;
  }

  /** true or false, nothing else (`yes`, `1` and `"true"` are not booleans in YAML 1.2 core). */
  bool(node: Node, path: string): boolean {
    if (!isScalar(node) || typeof node.value !== 'boolean') this.fail(node, path, this.describe(node), 'must be true or false');
    return node.value as boolean;
  }

  /** A string scalar accepted by `valid`; `reason` says what a valid one looks like. */
  str(node: Node, path: string, valid: (s: string) => boolean, reason: string): string {
    if (!isScalar(node) || typeof node.value !== 'string' || !valid(node.value)) {
      this.fail(node, path, this.describe(node), reason);
    }
    return node.value as string;
  }

  oneOf<T extends string>(node: Node, path: string, allowed: readonly T[]): T {
    const ok = (s: string): boolean => (allowed as readonly string[]).includes(s);
    return this.str(node, path, ok, `must be one of ${allowed.join(', ')}`) as T;
  }

  /** `? key` without a value has no node at all; stand in a null scalar just after the key. */
  private valueOf(value: Node | null, key: Node | null): Node {
    if (value !== null && value !== undefined) return value;
    const at = key?.range?.[1] ?? 0;
    const empty = new Scalar(null);
    empty.range = [at, at, at];
    return empty;
  }
}
