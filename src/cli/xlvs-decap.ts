#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// xlvs-decap: on a real server in LVS "tun" mode, attaches the XDP program that strips the
// router's IPIP / IPv6 tunnel header (no ipip or ip6_tunnel module needed), detaches it and
// shows its counters. The attachment is pinned and outlives this command.
//
// Exit codes, as xlvsctl: 0 success, 1 the operation failed, 2 the command line is wrong
// (nothing was changed).

import { parseArgs } from 'node:util';
import pino from 'pino';
import { InvalidArgumentError, XlvsError } from '../errors.js';
import type { XdpMode } from '../kernel/link.js';
import { parseDecapAddress, type DecapAddress } from '../decap/address.js';
import { attach, detach } from '../decap/attach.js';
import { checkIfname, DEFAULT_DECAP_OBJECT, DEFAULT_DECAP_PIN_DIR } from '../decap/pins.js';
import { COUNTER_NAMES, readStatus, type DecapStatus } from '../decap/status.js';

const USAGE = `usage: xlvs-decap [--pin-dir DIR] COMMAND

commands:
  attach DEV --allow ADDR [--allow ADDR ...] --vip ADDR [--vip ADDR ...] [--mode native|generic]
                     strip the tunnel header of packets arriving on DEV that are addressed to
                     this host, come from an --allow'ed outer source (the LVS routers' local
                     addresses; others are dropped) and carry a packet to a --vip (others are
                     dropped); both options are required and repeatable, IPv4 or IPv6. Each VIP
                     must be held by this host (on lo). The host's addresses are read now: run
                     attach again after they change. Again on an attached DEV: replaces the
                     lists and the program, keeps counters.
  detach DEV         remove the program from DEV, with its counters and lists
  status [DEV] [--json]
                     counters per reason, link, mode, lists; reasons:
                     ${COUNTER_NAMES.join(', ')}

options:
  --pin-dir DIR      bpffs directory for links, programs and maps (default ${DEFAULT_DECAP_PIN_DIR})
  --object FILE      the compiled program (default build/xlvs_decap.bpf.o of this checkout)
  -h, --help         show this help

The real server holds the VIP on lo; DEV is the interface the tunnelled packets arrive on.
`;

const OPTIONS = {
  'pin-dir': { type: 'string' },
  object: { type: 'string' },
  allow: { type: 'string', multiple: true },
  vip: { type: 'string', multiple: true },
  mode: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type OptionName = keyof typeof OPTIONS;

const ALLOWED: Record<string, readonly OptionName[]> = {
  attach: ['allow', 'vip', 'mode', 'object'],
  detach: [],
  status: ['json'],
};

type Command =
  | { kind: 'help' }
  | { kind: 'attach'; dev: string; mode: XdpMode; allow: DecapAddress[]; vips: DecapAddress[]; objectPath: string }
  | { kind: 'detach'; dev: string }
  | { kind: 'status'; dev?: string; json: boolean };

interface Values {
  'pin-dir'?: string;
  object?: string;
  allow?: string[];
  vip?: string[];
  mode?: string;
  json?: boolean;
  help?: boolean;
}

function checkMode(value: string | undefined): XdpMode {
  if (value === undefined || value === 'native') return 'native';
  if (value === 'generic') return 'generic';
  throw new InvalidArgumentError('--mode', value, 'must be native or generic');
}

/** --allow and --vip: without them nothing would be decapsulated, so attach refuses. */
function requiredList(field: '--allow' | '--vip', values: string[] | undefined): DecapAddress[] {
  if (values === undefined || values.length === 0) {
    const what = field === '--allow'
      ? 'the outer source addresses allowed to tunnel to this server (the LVS routers\' local_addresses)'
      : 'the VIPs this server holds on lo and serves';
    throw new InvalidArgumentError(field, undefined, `is required: ${what}; without it nothing would be decapsulated`);
  }
  return values.map((a) => parseDecapAddress(field, a));
}

function parseCommand(words: string[], values: Values): Command {
  if (values.help || words.length === 0 || words[0] === 'help') return { kind: 'help' };
  const name = words[0]!;
  const allowed = ALLOWED[name];
  if (allowed === undefined) throw new InvalidArgumentError('command', name, 'unknown (attach, detach, status)');
  for (const opt of Object.keys(values) as OptionName[]) {
    if (opt !== 'pin-dir' && !allowed.includes(opt)) throw new InvalidArgumentError(`--${opt}`, values[opt], `does not apply to "${name}"`);
  }
  const args = words.slice(1);
  const maxArgs = 1;
  if (args.length > maxArgs) throw new InvalidArgumentError(name, args[maxArgs], 'unexpected argument');
  const dev = args[0] === undefined ? undefined : checkIfname('DEV', args[0]);
  if (name === 'status') return { kind: 'status', dev, json: values.json === true };
  if (dev === undefined) throw new InvalidArgumentError('DEV', undefined, `is required: xlvs-decap ${name} DEV`);
  if (name === 'detach') return { kind: 'detach', dev };
  return {
    kind: 'attach',
    dev,
    mode: checkMode(values.mode),
    allow: requiredList('--allow', values.allow),
    vips: requiredList('--vip', values.vip),
    objectPath: values.object ?? DEFAULT_DECAP_OBJECT,
  };
}

function formatStatus(list: DecapStatus[]): string {
  if (list.length === 0) return 'xlvs-decap is attached to no interface\n';
  return list
    .map((s) => {
      const where = s.link === null ? 'no link pinned' : s.link.ifindex === 0 ? `link ${s.link.id} defunct (interface gone)` : `link ${s.link.id} prog ${s.link.progId} ifindex ${s.link.ifindex}`;
      const list = (l: string[]): string => (l.length === 0 ? 'none (nothing is decapsulated)' : l.join(', '));
      const counters = COUNTER_NAMES.map((n) => `${n} ${s.counters[n]}`).join('  ');
      return `${s.dev}: ${s.mode ?? 'mode unknown here'}, ${where}\n  allow: ${list(s.allow)}\n  local: ${list(s.local)}\n  vips: ${list(s.vips)}\n  ${counters}\n`;
    })
    .join('');
}

const toJson = (v: unknown): string => `${JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x), 2)}\n`;

function run(cmd: Exclude<Command, { kind: 'help' }>, pinDir: string, log: pino.Logger): void {
  switch (cmd.kind) {
    case 'attach': {
      const local = attach({ dev: cmd.dev, mode: cmd.mode, allow: cmd.allow, vips: cmd.vips, pinDir, objectPath: cmd.objectPath, log });
      const text = (l: DecapAddress[]): string => l.map((a) => a.text).join(', ');
      process.stdout.write(`xlvs-decap attached to ${cmd.dev} (${cmd.mode}): decapsulating tunnels from ${text(cmd.allow)} to ${text(local)}, for VIPs ${text(cmd.vips)}\n`);
      return;
    }
    case 'detach':
      detach(cmd.dev, pinDir, log);
      process.stdout.write(`xlvs-decap detached from ${cmd.dev}\n`);
      return;
    case 'status': {
      const list = readStatus(pinDir, cmd.dev);
      process.stdout.write(cmd.json ? toJson(list) : formatStatus(list));
      return;
    }
  }
}

function main(argv: string[]): number {
  let cmd: Command;
  let pinDir: string;
  try {
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    cmd = parseCommand(positionals, values);
    pinDir = values['pin-dir'] ?? DEFAULT_DECAP_PIN_DIR;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (err instanceof InvalidArgumentError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`xlvs-decap: ${(err as Error).message}\n(see xlvs-decap --help)\n`);
      return 2;
    }
    throw err;
  }
  if (cmd.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  // Logs go to stderr so that stdout stays the command's answer (status --json).
  const log = pino({ level: process.env.XLVS_LOG_LEVEL ?? 'warn', base: { svc: 'xlvs-decap' } }, pino.destination(2));
  try {
    run(cmd, pinDir, log);
    return 0;
  } catch (err) {
    // A DEV that names no interface is found only here, but nothing was changed: a usage error.
    if (err instanceof InvalidArgumentError) {
      process.stderr.write(`xlvs-decap: ${err.message}\n`);
      return 2;
    }
    if (err instanceof XlvsError) {
      log.debug({ err, code: err.code }, 'command failed'); // the stack, for XLVS_LOG_LEVEL=debug
      process.stderr.write(`xlvs-decap: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`xlvs-decap: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
}
