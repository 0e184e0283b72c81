// SPDX-License-Identifier: Apache-2.0
// The API's unix socket is 0660 with the group asked for, whatever the umask (issue 13: under
// umask 000 it was 0777 and any user could add reals). Root: the socket is given another group.

import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { groupId } from '../../src/api/listen.js';
import { startApiServer } from '../../src/api/server.js';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { MemoryApi } from '../unit/memory-api.js';

/** Runs fn with the process's umask at `mask`, then puts the old one back. */
async function underUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  const old = process.umask(mask);
  try {
    return await fn();
  } finally {
    process.umask(old);
  }
}

test('under umask 000 the API server\'s socket is 0660, with the configured group or the daemon\'s own', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'xlvs-socket-'));
  const path = join(dir, 'xlvsd.sock');
  const log = pino({ level: 'silent' });
  try {
    const daemonGroup = await groupId('daemon');
    assert.notEqual(daemonGroup, process.getgid!(), 'a group other than the process\'s own');
    await underUmask(0o000, async () => {
      const server = await startApiServer(new MemoryApi(), `unix:${path}`, log, { socketGroup: daemonGroup });
      const st = await stat(path);
      await server.close();
      assert.equal((st.mode & 0o777).toString(8), '660');
      assert.equal(st.gid, daemonGroup);
      const byDefault = await startApiServer(new MemoryApi(), `unix:${path}`, log);
      const st2 = await stat(path);
      await byDefault.close();
      assert.equal((st2.mode & 0o777).toString(8), '660');
      assert.equal(st2.gid, process.getgid!());
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('xlvsd --socket-group daemon started under umask 000 serves on a 0660 socket of group daemon', async () => {
  const lab = await Lab.create({ reals: 1 });
  let xlvsd: XlvsdProcess | undefined;
  try {
    const config = 'interfaces: { public: pub0, private: priv0 }\nservices: []\n';
    xlvsd = await underUmask(0o000, () => XlvsdProcess.start(lab, { config, extraArgs: ['--socket-group', 'daemon'] }));
    const path = xlvsd.socket.slice('unix:'.length);
    const gid = await groupId('daemon');
    // xlvsd gives the socket its group once the daemon is up, right after it answers.
    const deadline = Date.now() + 5000;
    let st = await stat(path);
    while (st.gid !== gid && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      st = await stat(path);
    }
    assert.equal((st.mode & 0o777).toString(8), '660');
    assert.equal(st.gid, gid);
    assert.deepEqual(await xlvsd.api.listServices(), []);
  } finally {
    await xlvsd?.destroy().catch((e) => console.error('xlvsd teardown failed', e));
    await lab.destroy();
  }
});
