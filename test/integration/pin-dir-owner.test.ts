// SPDX-License-Identifier: Apache-2.0
// One xlvsd owns a pin dir (issue 13). A second daemon on the same pin dir, with another config
// and its own socket, is refused with E_PIN_DIR_OWNED naming the owner's PID before it writes a
// map or swaps a program (the pinned maps and links are read from bpffs before and after); so is
// `xlvsd --teardown`. The lock dies with its process: after kill -9 of the owner a new one starts.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { CommandError } from '../../lab/errors.js';
import { fromRoot } from '../../src/paths.js';
import { readPinned } from '../../testing/pinned-maps.js';
import type { ServiceStatus } from '../../src/model/types.js';

const XLVSD = fromRoot('dist/src/cli/xlvsd.js');
const WEB = '{ vip: 203.0.113.100, port: 80, scheduler: wrr, reals: [{ address: 10.77.0.11, port: 8080, weight: WEIGHT }, { address: 10.77.0.12, port: 8080 }] }';
const DNS = '{ vip: 203.0.113.100, port: 53, protocol: udp, scheduler: rr, reals: [{ address: 10.77.0.11, port: 53 }] }';
/** The owner's config: two services. The intruder's: DNS gone, WEB's first weight changed. */
const OWNER = `interfaces: { public: pub0, private: priv0 }\nservices:\n  - ${WEB.replace('WEIGHT', '1')}\n  - ${DNS}\n`;
const INTRUDER = `interfaces: { public: pub0, private: priv0 }\nservices:\n  - ${WEB.replace('WEIGHT', '7')}\n`;

let lab: Lab;
let owner: XlvsdProcess;
let next: XlvsdProcess | undefined;

before(async () => {
  lab = await Lab.create({ reals: 2 });
  owner = await XlvsdProcess.start(lab, { config: OWNER });
});

after(async () => {
  await next?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await owner?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

/** Services and reals' weights as the API shows them. */
const shape = (list: ServiceStatus[]): string[] =>
  list.map((s) => `${s.protocol}/${s.vip}:${s.port} ${s.reals.map((r) => `${r.address}:${r.port}=${r.weight}`).join(',')}`).sort();

test('a second xlvsd on the same pin dir is refused, naming the owner, before it touches a map', async () => {
  const pinned = readPinned(owner.pinDir);
  const api = shape(await owner.api.listServices());
  assert.equal(api.length, 2);
  await assert.rejects(
    XlvsdProcess.start(lab, { config: INTRUDER, pinDir: owner.pinDir }),
    (e: unknown) => {
      const msg = (e as Error).message;
      assert.match(msg, /exited during start \(code 1/);
      assert.match(msg, /E_PIN_DIR_OWNED/);
      assert.ok(msg.includes(`pin-dir: ${owner.pinDir} is owned by PID ${owner.pid}; refusing to start`), msg);
      return true;
    },
  );
  assert.deepEqual(readPinned(owner.pinDir), pinned, 'no map written, no program swapped');
  assert.deepEqual(shape(await owner.api.listServices()), api, 'the owner runs on as it was');
});

test('xlvsd --teardown is refused while a daemon owns the pin dir, naming its PID', async () => {
  const pinned = readPinned(owner.pinDir);
  await assert.rejects(
    lab.exec(lab.ns.router, [process.execPath, XLVSD, '--teardown', '--pin-dir', owner.pinDir]),
    (e: unknown) => {
      assert.ok(e instanceof CommandError, String(e));
      assert.equal(e.exitCode, 1);
      assert.ok(e.message.includes(`is owned by PID ${owner.pid}; refusing to tear it down`), e.message);
      return true;
    },
  );
  assert.deepEqual(readPinned(owner.pinDir), pinned, 'the data plane is still there, attached');
  assert.ok(pinned.links.public !== undefined && pinned.links.private !== undefined);
});

test('the lock dies with its owner: after kill -9 a new xlvsd takes the pin dir', async () => {
  await owner.kill9();
  next = await XlvsdProcess.start(lab, { config: INTRUDER, pinDir: owner.pinDir });
  assert.deepEqual(shape(await next.api.listServices()), ['tcp/203.0.113.100:80 10.77.0.11:8080=7,10.77.0.12:8080=1']);
});
