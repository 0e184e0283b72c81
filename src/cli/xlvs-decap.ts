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
  attach DEV [--allow ADDR ...] [--mode native|generic]
                     strip tunnel headers of packets arriving on DEV; with --allow (repeatable,
                     IPv4 or IPv6) only from those outer sources, others are dropped. Again on
                     an attached DEV: replaces the allow-list and the program, keeps counters.
  detach DEV         remove the program from DEV, with its counters and allow-list
  status [DEV] [--json]
                     counters per reason, link, mode, allow-list; reasons:
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
  mode: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type OptionName = keyof typeof OPTIONS;

const ALLOWED: Record<string, readonly OptionName[]> = {
  attach: ['allow', 'mode', 'object'],
  detach: [],
  status: ['json'],
};

type Command =
  | { kind: 'help' }
  | { kind: 'attach'; dev: string; mode: XdpMode; allow: DecapAddress[]; objectPath: string }
  | { kind: 'detach'; dev: string }
  | { kind: 'status'; dev?: string; json: boolean };

interface Values {
  'pin-dir'?: string;
  object?: string;
  allow?: string[];
  mode?: string;
  json?: boolean;
  help?: boolean;
}

function checkMode(value: string | undefined): XdpMode {
  if (value === undefined || value === 'native') return 'native';
  if (value === 'generic') return 'generic';
  throw new InvalidArgumentError('--mode', value, 'must be native or generic');
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
    allow: (values.allow ?? []).map((a) => parseDecapAddress('--allow', a)),
    objectPath: values.object ?? DEFAULT_DECAP_OBJECT,
  };
}

function formatStatus(list: DecapStatus[]): string {
  if (list.length === 0) return 'xlvs-decap is attached to no interface\n';
  return list
    .map((s) => {
      const where = s.link === null ? 'no link pinned' : s.link.ifindex === 0 ? `link ${s.link.id} defunct (interface gone)` : `link ${s.link.id} prog ${s.link.progId} ifindex ${s.link.ifindex}`;
      const allow = s.allowEnforced ? `allow-list: ${s.allow.join(', ')}` : 'allow-list: off (any source)';
      const counters = COUNTER_NAMES.map((n) => `${n} ${s.counters[n]}`).join('  ');
      return `${s.dev}: ${s.mode ?? 'mode unknown here'}, ${where}\n  ${allow}\n  ${counters}\n`;
    })
    .join('');
}

const toJson = (v: unknown): string => `${JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x), 2)}\n`;

function run(cmd: Exclude<Command, { kind: 'help' }>, pinDir: string, log: pino.Logger): void {
  switch (cmd.kind) {
    case 'attach': {
      attach({ dev: cmd.dev, mode: cmd.mode, allow: cmd.allow, pinDir, objectPath: cmd.objectPath, log });
      const allow = cmd.allow.length === 0 ? 'from any source' : `from ${cmd.allow.map((a) => a.text).join(', ')} only`;
      process.stdout.write(`xlvs-decap attached to ${cmd.dev} (${cmd.mode}): decapsulating ${allow}\n`);
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
