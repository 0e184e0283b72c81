#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// xlvsd: the xlvs daemon. Loads the XDP data plane, keeps it in step with the
// config file (SIGHUP reloads) and serves the gRPC API. Exiting leaves the
// data plane forwarding; `--teardown` removes it.

import { parseArgs } from 'node:util';
import pino from 'pino';
import { Daemon } from '../daemon/daemon.js';
import { Dataplane, DEFAULT_PIN_DIR } from '../dataplane/handles.js';
import { loadConfig } from '../config/index.js';
import { removeVipRoutes } from '../health/vip-routes.js';
import { fromRoot } from '../paths.js';
import { checkConfigOnHost } from './xlvsd-check.js';
import { groupId, parseListenAddress } from '../api/listen.js';
import { PinDirLock } from '../kernel/pin-dir-lock.js';
import { removeRecordedFloating, sayGoodbye } from '../ha/teardown.js';

const USAGE = `usage: xlvsd --config FILE [--listen ADDR] [--socket-group GROUP] [--pin-dir DIR] [--state-dir DIR] [--object FILE] [--allow-private-bpffs]
       xlvsd --config FILE --check [--pin-dir DIR]
                                         validate the config against this host as a start would
                                         (interfaces, capacity, a pinned table's size) and exit
       xlvsd --teardown [--pin-dir DIR] [--state-dir DIR] [--config FILE]
                                         detach the XDP programs, remove all pinned state, the VIP check rules and
                                         (HA) the floating addresses; with --config, tell the HA peer GOODBYE first
  Signals: SIGHUP reloads the config; SIGTERM stops for a restart (HA: the role is kept, the peer holds
  off for ha.restart_hold_ms); SIGUSR2 stops for good (HA: GOODBYE, the peer takes over at once).
  --socket-group GROUP  the group (name or id) whose members may use the API's unix socket
                        (mode 0660 whatever the umask; default: root's group)`;

const log = pino({ level: process.env.XLVS_LOG_LEVEL ?? 'info', base: { svc: 'xlvsd' } });

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        listen: { type: 'string', default: process.env.XLVS_SOCKET ?? 'unix:/run/xlvs/xlvsd.sock' },
        'socket-group': { type: 'string' },
        'pin-dir': { type: 'string', default: DEFAULT_PIN_DIR },
        'state-dir': { type: 'string', default: '/var/lib/xlvs' },
        object: { type: 'string', default: fromRoot('build/xlvs.bpf.o') },
        'reap-interval-ms': { type: 'string', default: '5000' },
        check: { type: 'boolean', default: false },
        teardown: { type: 'boolean', default: false },
        'allow-private-bpffs': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    process.stderr.write(`xlvsd: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (args.teardown) {
    // Never from under a running daemon: it owns the pin dir (E_PIN_DIR_OWNED names its PID).
    const lock = PinDirLock.acquire(args['pin-dir']!, { create: false, action: 'refusing to tear it down' });
    try {
      if (args.config) await sayGoodbye(await loadConfig(args.config), log);
      Dataplane.teardown(args['pin-dir']!, log);
      removeRecordedFloating(args['state-dir']!, log);
    } finally {
      lock?.release();
    }
    const rules = removeVipRoutes();
    if (rules > 0) log.info({ rules }, 'VIP check routing rules removed');
    return 0;
  }
  if (!args.config) {
    process.stderr.write(`xlvsd: --config is required\n${USAGE}\n`);
    return 2;
  }
  if (args.check) {
    await checkConfigOnHost(await loadConfig(args.config), args['pin-dir']!, args.object!);
    process.stdout.write(`${args.config}: ok\n`);
    return 0;
  }
  const reap = Number(args['reap-interval-ms']);
  if (!Number.isInteger(reap) || reap < 10) {
    process.stderr.write(`xlvsd: --reap-interval-ms must be an integer >= 10 (got ${JSON.stringify(args['reap-interval-ms'])})\n`);
    return 2;
  }
  let socketGroup: number | undefined;
  if (args['socket-group'] !== undefined) {
    const target = parseListenAddress(args.listen!);
    if (target.kind !== 'unix') {
      process.stderr.write(`xlvsd: --socket-group needs a unix: --listen address (got ${JSON.stringify(args.listen)})\n`);
      return 2;
    }
    socketGroup = await groupId(args['socket-group']);
  }
  const daemon = await Daemon.start({
    configPath: args.config, objectPath: args.object!, pinDir: args['pin-dir']!, stateDir: args['state-dir']!,
    listen: args.listen!, reapIntervalMs: reap, log, allowPrivateBpffs: args['allow-private-bpffs']!, socketGroup,
  });
  process.on('SIGHUP', () => void daemon.reload());
  // SIGTERM / SIGINT: a restart's stop (HA keeps the role); SIGUSR2: a stop for good (HA hands over).
  const mode = await new Promise<'restart' | 'leave'>((resolve) => {
    process.once('SIGTERM', () => resolve('restart'));
    process.once('SIGINT', () => resolve('restart'));
    process.once('SIGUSR2', () => resolve('leave'));
  });
  await daemon.stop(mode);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    log.fatal({ err: e, code: e?.code }, e?.message ?? String(e));
    process.stderr.write(`xlvsd: ${e?.message ?? e}\n`);
    process.exit(1);
  },
);
