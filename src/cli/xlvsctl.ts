#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// xlvsctl: inspect and change a running xlvsd over its gRPC API, in the spirit of ipvsadm.
//
// Exit codes: 0 success, 1 the daemon refused or failed the request (or could not be
// reached), 2 the command line itself is wrong. The whole command line is parsed and
// checked before connecting, so exit 2 always means nothing was sent.

import { parseArgs } from 'node:util';
import { InvalidArgumentError, NotFoundError, XlvsError } from '../errors.js';
import { type RealSpec, realId, type ServiceKey, serviceId } from '../model/types.js';
import { connectApi } from '../api/client.js';
import { parseServiceString } from '../api/service-string.js';
import { formatDrops, formatServiceTable, toJson } from '../api/table.js';
import { checkIPv4, checkMethod, checkPort, checkWeight, parseDecimal } from '../api/validate.js';

const DEFAULT_SOCKET = 'unix:/run/xlvs/xlvsd.sock';

const USAGE = `usage: xlvsctl [--socket ADDR] COMMAND [OPTIONS]

commands:
  list [--json]                         services, reals and counters (like ipvsadm -Ln)
  real add --service S --address A [--port P] [--weight W] [--method nat]
                                        add a real, or update weight/method of an existing one
  real remove --service S --address A [--port P]
  real set-weight --service S --address A [--port P] --weight W
  drops [--json]                        data-plane drop counters by reason

  S is PROTOCOL/VIP:PORT, e.g. tcp/203.0.113.100:80. --port defaults to the service's
  port, --weight to 1, --method to nat. Weight 0 quiesces a real (no new flows).

global options:
  --socket ADDR   daemon API address (default ${DEFAULT_SOCKET}, or $XLVS_SOCKET)
  -h, --help      show this help
`;

const OPTIONS = {
  socket: { type: 'string' },
  json: { type: 'boolean' },
  service: { type: 'string' },
  address: { type: 'string' },
  port: { type: 'string' },
  weight: { type: 'string' },
  method: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type OptionName = keyof typeof OPTIONS;
type Values = { [K in OptionName]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean };

type Command =
  | { kind: 'help' }
  | { kind: 'list'; json: boolean }
  | { kind: 'drops'; json: boolean }
  | { kind: 'real-add'; service: ServiceKey; real: RealSpec }
  | { kind: 'real-remove'; service: ServiceKey; address: string; port: number }
  | { kind: 'real-set-weight'; service: ServiceKey; address: string; port: number; weight: number };

// Which options each command takes; anything else is an error rather than silently ignored
// (e.g. `real remove --weight 0` probably meant something the command would not do).
const ALLOWED: Record<string, readonly OptionName[]> = {
  list: ['json'],
  drops: ['json'],
  'real add': ['service', 'address', 'port', 'weight', 'method'],
  'real remove': ['service', 'address', 'port'],
  'real set-weight': ['service', 'address', 'port', 'weight'],
};

function need(values: Values, name: 'service' | 'address' | 'weight'): string {
  const v = values[name];
  if (v === undefined) throw new InvalidArgumentError(`--${name}`, v, 'is required');
  return v;
}

/** The real's identity from --service, --address and --port (default: the service's port). */
function realTarget(values: Values): { service: ServiceKey; address: string; port: number } {
  const service = parseServiceString(need(values, 'service'));
  const address = checkIPv4('--address', need(values, 'address'));
  const port = values.port === undefined ? service.port : parseDecimal('--port', values.port, checkPort);
  return { service, address, port };
}

function parseCommand(words: string[], values: Values): Command {
  if (values.help || words.length === 0 || words[0] === 'help') return { kind: 'help' };
  const name = words[0] === 'real' ? words.slice(0, 2).join(' ') : words[0]!;
  const allowed = ALLOWED[name];
  if (allowed === undefined) {
    if (words[0] !== 'real') throw new InvalidArgumentError('command', words[0], 'unknown (list, real, drops)');
    if (words[1] === undefined) throw new InvalidArgumentError('real', undefined, 'needs a subcommand (add, remove, set-weight)');
    throw new InvalidArgumentError('real subcommand', words[1], 'unknown (add, remove, set-weight)');
  }
  const extra = words.slice(name.split(' ').length);
  if (extra.length > 0) throw new InvalidArgumentError(name, extra[0], 'unexpected argument');
  for (const opt of Object.keys(values) as OptionName[]) {
    if (opt !== 'socket' && !allowed.includes(opt)) {
      throw new InvalidArgumentError(`--${opt}`, values[opt], `does not apply to "${name}"`);
    }
  }

  switch (name) {
    case 'list':
      return { kind: 'list', json: values.json === true };
    case 'drops':
      return { kind: 'drops', json: values.json === true };
    case 'real add': {
      const { service, address, port } = realTarget(values);
      return {
        kind: 'real-add',
        service,
        real: {
          address: address,
          port,
          weight: values.weight === undefined ? 1 : parseDecimal('--weight', values.weight, checkWeight),
          method: checkMethod('--method', values.method ?? 'nat'),
        },
      };
    }
    case 'real remove':
      return { kind: 'real-remove', ...realTarget(values) };
    default: // 'real set-weight'
      return {
        kind: 'real-set-weight',
        ...realTarget(values),
        weight: parseDecimal('--weight', need(values, 'weight'), checkWeight),
      };
  }
}

async function run(cmd: Exclude<Command, { kind: 'help' }>, socket: string): Promise<void> {
  const api = await connectApi(socket);
  try {
    switch (cmd.kind) {
      case 'list': {
        const services = await api.listServices();
        process.stdout.write(cmd.json ? toJson(services) : formatServiceTable(services));
        return;
      }
      case 'drops': {
        const drops = await api.drops();
        process.stdout.write(cmd.json ? toJson(drops) : formatDrops(drops));
        return;
      }
      case 'real-add':
        await api.addReal(cmd.service, cmd.real);
        process.stdout.write(
          `real ${realId(cmd.real)} in ${serviceId(cmd.service)}: ${cmd.real.method}, weight ${cmd.real.weight}\n`,
        );
        return;
      case 'real-remove':
        await api.removeReal(cmd.service, cmd.address, cmd.port);
        process.stdout.write(`real ${realId(cmd)} removed from ${serviceId(cmd.service)}\n`);
        return;
      case 'real-set-weight': {
        // AddReal replaces weight and method together, so keep the method the real has now.
        // Not atomic: a concurrent remove between the two calls would be undone by the add.
        const svc = (await api.listServices()).find((s) => serviceId(s) === serviceId(cmd.service));
        if (svc === undefined) throw new NotFoundError('service', serviceId(cmd.service));
        const real = svc.reals.find((r) => realId(r) === realId(cmd));
        if (real === undefined) throw new NotFoundError('real', `${realId(cmd)} in ${serviceId(cmd.service)}`);
        await api.addReal(cmd.service, { address: real.address, port: real.port, weight: cmd.weight, method: real.method });
        process.stdout.write(`real ${realId(cmd)} in ${serviceId(cmd.service)}: weight ${cmd.weight}\n`);
        return;
      }
    }
  } finally {
    api.close();
  }
}

async function main(argv: string[]): Promise<number> {
  let cmd: Command;
  let socket: string;
  try {
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    cmd = parseCommand(positionals, values);
    socket = values.socket ?? (process.env.XLVS_SOCKET || DEFAULT_SOCKET);
  } catch (err) {
    // Only the command line's own errors are usage errors; anything else is a bug and propagates.
    const code = (err as { code?: unknown }).code;
    if (err instanceof InvalidArgumentError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`xlvsctl: ${(err as Error).message}\n(see xlvsctl --help)\n`);
      return 2;
    }
    throw err;
  }

  if (cmd.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    await run(cmd, socket);
    return 0;
  } catch (err) {
    if (err instanceof XlvsError) {
      process.stderr.write(`xlvsctl: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`xlvsctl: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
