// SPDX-License-Identifier: Apache-2.0
// The message types in src/gen/proto/ describe what @grpc/proto-loader hands over only if they
// were generated with the loader's own options: the Makefile's PROTO_GEN_FLAGS against
// LOADER_OPTIONS in src/api/proto.ts, which would otherwise drift apart unnoticed.

import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LOADER_OPTIONS } from '../../src/api/proto.js';
import { fromRoot } from '../../src/paths.js';

test("the generator's flags are the loader's options", () => {
  const line = /^PROTO_GEN_FLAGS\s*:=(.*)$/m.exec(readFileSync(fromRoot('Makefile'), 'utf8'));
  assert.ok(line, 'PROTO_GEN_FLAGS in the Makefile');
  const flags = new Set(line[1]!.trim().split(/\s+/));
  const o = LOADER_OPTIONS;
  const want = [
    ...(o.keepCase ? ['--keepCase'] : []),
    ...(o.longs ? [`--longs=${(o.longs as { name: string }).name}`] : []),
    ...(o.enums ? [`--enums=${(o.enums as { name: string }).name}`] : []),
    ...(o.defaults ? ['--defaults'] : []),
    ...(o.oneofs ? ['--oneofs'] : []),
  ];
  for (const f of want) assert.ok(flags.has(f), `PROTO_GEN_FLAGS lacks ${f}`);
  const shaping = [...flags].filter((f) => /^--(keepCase|longs|enums|bytes|defaults|arrays|objects|oneofs|json)\b/.test(f));
  assert.deepEqual(shaping.sort(), want.sort(), 'no shaping flag the loader does not use');
});
