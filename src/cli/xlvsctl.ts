#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// xlvsctl: inspect and change a running xlvsd over its gRPC API, in the spirit of ipvsadm.
//
// Exit codes: 0 success, 1 the daemon refused or failed the request (or could not be
// reached), 2 the command line itself is wrong. The whole command line is parsed and
// checked before connecting, so exit 2 always means nothing was sent.

import { parseArgs } from 'node:util';
import { InvalidArgumentError, NotFoundError, XlvsError } from '../errors.js';
import { type ForwardMethod, realId, type RealSpec, type ServiceKey, type ServiceStatus, serviceId } from '../model/types.js';
import { defaultRealPort, thresholdViolation } from '../model/rules.js';
import { type ApiClient, connectApi } from '../api/client.js';
import { parseRealString, parseServiceString } from '../api/service-string.js';
import { formatDrops, formatServiceTable, type TableView, toJson, toJsonLine } from '../api/table.js';
import { formatHealthEvent, formatHealthTable } from '../api/health-table.js';
import { formatCapabilities } from '../api/convert-capabilities.js';
import { formatOverrides, overridesToJson } from '../api/convert-overrides.js';
import { formatHaEvent, formatHaStatus } from '../api/ha-table.js';
import { follow } from './follow.js';
import {
  checkAddress, checkMethod, checkRealPort, checkThreshold, checkWeight, parseDecimal,
} from '../api/validate.js';

const DEFAULT_SOCKET = 'unix:/run/xlvs/xlvsd.sock';

const USAGE = `usage: xlvsctl [--socket ADDR] COMMAND [OPTIONS]

commands:
  list [--stats | --thresholds] [--json]
                    services, port groups, reals and connections (like ipvsadm -Ln);
                    --stats: packet/byte counters, --thresholds: upper/lower thresholds
  real add SERVICE ADDR[:PORT] [--weight W] [--method M] [--upper N] [--lower N]
                    add a real, or replace weight/method/thresholds of an existing one
  real remove SERVICE ADDR[:PORT]
  real set-weight SERVICE ADDR[:PORT] --weight W
  drops [--json]    data-plane drop counters by reason
  health [--json]   every health check: state and since when, probes ok/failed, the last
                    result; per service the healthy weight against the quorum and whether
                    the sorry server is taking new flows
  health watch [--json]
                    health changes as they happen, one line each (--json: one JSON object
                    per line), until interrupted; exits 1 if the daemon ends the stream
  capabilities [--json]
                    what this host's kernel lets xlvsd do (found at its start), what needs
                    each, and whether SYN health checks run
  overrides [--json]
                    the real add/remove changes in force on top of the config file, each
                    beside what the file says (an override equal to the file is dropped;
                    one that stays wins over later edits of the file)
  overrides clear [SERVICE]
                    remove the overrides of SERVICE (of every service without one): the
                    config file's reals apply again
  ha [--json]       high availability: this router and the peer (role, priority, since
                    when and why), heartbeat paths up/down with when last heard, the
                    connection sync in/out (records, lag), hold, counters
  ha watch [--json] role changes as they happen, one line each (--json: one JSON object
                    per line), the current role first, until interrupted; exits 1 if the
                    daemon ends the stream
  ha failover       hand the master role to the peer now (this router must be master and
                    the peer alive)
  ha hold on|off    hold this router as backup (maintenance; kept across restarts), or
                    let it take part again

  SERVICE is PROTOCOL/VIP:PORT: tcp/203.0.113.100:80, tcp/[2001:db8::1]:80, or
  tcp/203.0.113.100:* for a service on every port. ADDR[:PORT] is 10.77.0.11:80 or
  [fd00::11]:80; port 0 keeps the client's port. Without a port, add uses the service's
  default (its port if it has one, 0 for port groups and for dr/tun) and remove/set-weight
  the one real at that address. --weight defaults to 1 (0 quiesces: no new flows), --method
  to nat (nat, dr, tun, fullnat), --upper/--lower to 0 (ipvsadm -x/-y: 0 = no limit /
  3/4 of upper). The older form --service S --address A [--port P] is accepted too.

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
  upper: { type: 'string' },
  lower: { type: 'string' },
  stats: { type: 'boolean' },
  thresholds: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type OptionName = keyof typeof OPTIONS;
type Values = { [K in OptionName]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean };

/** A real as named on the command line: the port may be left to the daemon's state. */
interface RealTarget {
  service: ServiceKey;
  address: string;
  port: number | undefined;
}

type Command =
  | { kind: 'help' }
  | { kind: 'list'; json: boolean; view: TableView }
  | { kind: 'drops'; json: boolean }
  | { kind: 'health'; json: boolean }
  | { kind: 'health-watch'; json: boolean }
  | { kind: 'capabilities'; json: boolean }
  | { kind: 'overrides'; json: boolean }
  | { kind: 'overrides-clear'; service: ServiceKey | undefined }
  | { kind: 'ha'; json: boolean }
  | { kind: 'ha-watch'; json: boolean }
  | { kind: 'ha-failover' }
  | { kind: 'ha-hold'; on: boolean }
  | ({ kind: 'real-add'; real: Omit<RealSpec, 'address' | 'port'> } & RealTarget)
  | ({ kind: 'real-remove' } & RealTarget)
  | ({ kind: 'real-set-weight'; weight: number } & RealTarget);

// Which options each command takes; anything else is an error rather than silently ignored
// (e.g. `real remove --weight 0` probably meant something the command would not do).
const ALLOWED: Record<string, readonly OptionName[]> = {
  list: ['json', 'stats', 'thresholds'],
  drops: ['json'],
  health: ['json'],
  'health watch': ['json'],
  capabilities: ['json'],
  overrides: ['json'],
  'overrides clear': [],
  ha: ['json'],
  'ha watch': ['json'],
  'ha failover': [],
  'ha hold': [],
  'real add': ['service', 'address', 'port', 'weight', 'method', 'upper', 'lower'],
  'real remove': ['service', 'address', 'port'],
  'real set-weight': ['service', 'address', 'port', 'weight'],
};

function need(values: Values, name: 'service' | 'address' | 'weight'): string {
  const v = values[name];
  if (v === undefined) throw new InvalidArgumentError(`--${name}`, v, 'is required');
  return v;
}

/** The real's identity: `SERVICE ADDR[:PORT]`, or --service, --address and --port. */
function realTarget(args: string[], values: Values): RealTarget {
  if (args.length > 0) {
    for (const opt of ['service', 'address', 'port'] as const) {
      if (values[opt] !== undefined) throw new InvalidArgumentError(`--${opt}`, values[opt], 'not with SERVICE ADDR[:PORT] arguments');
    }
    if (args.length !== 2) throw new InvalidArgumentError('arguments', args.join(' '), 'must be SERVICE ADDR[:PORT]');
    const service = parseServiceString(args[0]!, 'SERVICE');
    return { service, ...parseRealString(args[1]!, 'ADDR[:PORT]') };
  }
  const service = parseServiceString(need(values, 'service'));
  const address = checkAddress('--address', need(values, 'address'));
  const port = values.port === undefined ? undefined : parseDecimal('--port', values.port, checkRealPort);
  return { service, address, port };
}

function parseCommand(words: string[], values: Values): Command {
  if (values.help || words.length === 0 || words[0] === 'help') return { kind: 'help' };
  if (words[0] === 'health' && words[1] !== undefined && words[1] !== 'watch') {
    throw new InvalidArgumentError('health subcommand', words[1], 'unknown (watch)');
  }
  if (words[0] === 'overrides' && words[1] !== undefined && words[1] !== 'clear') {
    throw new InvalidArgumentError('overrides subcommand', words[1], 'unknown (clear)');
  }
  if (words[0] === 'ha' && words[1] !== undefined && !['watch', 'failover', 'hold'].includes(words[1])) {
    throw new InvalidArgumentError('ha subcommand', words[1], 'unknown (watch, failover, hold)');
  }
  const name = ['real', 'health', 'overrides', 'ha'].includes(words[0]!) ? words.slice(0, 2).join(' ') : words[0]!;
  const allowed = ALLOWED[name];
  if (allowed === undefined) {
    if (words[0] !== 'real') throw new InvalidArgumentError('command', words[0], 'unknown (list, real, drops, health, capabilities, overrides, ha)');
    if (words[1] === undefined) throw new InvalidArgumentError('real', undefined, 'needs a subcommand (add, remove, set-weight)');
    throw new InvalidArgumentError('real subcommand', words[1], 'unknown (add, remove, set-weight)');
  }
  const extra = words.slice(name.split(' ').length);
  const takesArgs = name.startsWith('real ') || name === 'overrides clear' || name === 'ha hold';
  if (extra.length > 0 && !takesArgs) throw new InvalidArgumentError(name, extra[0], 'unexpected argument');
  for (const opt of Object.keys(values) as OptionName[]) {
    if (opt !== 'socket' && !allowed.includes(opt)) {
      throw new InvalidArgumentError(`--${opt}`, values[opt], `does not apply to "${name}"`);
    }
  }

  switch (name) {
    case 'list': {
      if (values.stats && values.thresholds) throw new InvalidArgumentError('--thresholds', true, 'not with --stats');
      const view: TableView = values.stats ? 'stats' : values.thresholds ? 'thresholds' : 'conns';
      return { kind: 'list', json: values.json === true, view };
    }
    case 'drops':
      return { kind: 'drops', json: values.json === true };
    case 'health':
      return { kind: 'health', json: values.json === true };
    case 'health watch':
      return { kind: 'health-watch', json: values.json === true };
    case 'capabilities':
      return { kind: 'capabilities', json: values.json === true };
    case 'overrides':
      return { kind: 'overrides', json: values.json === true };
    case 'overrides clear':
      if (extra.length > 1) throw new InvalidArgumentError('overrides clear', extra[1], 'unexpected argument (at most one SERVICE)');
      return { kind: 'overrides-clear', service: extra[0] === undefined ? undefined : parseServiceString(extra[0], 'SERVICE') };
    case 'ha':
      return { kind: 'ha', json: values.json === true };
    case 'ha watch':
      return { kind: 'ha-watch', json: values.json === true };
    case 'ha failover':
      return { kind: 'ha-failover' };
    case 'ha hold':
      if (extra.length > 1) throw new InvalidArgumentError('ha hold', extra[1], 'unexpected argument (one of on, off)');
      if (extra[0] !== 'on' && extra[0] !== 'off') throw new InvalidArgumentError('ha hold', extra[0], extra[0] === undefined ? 'needs on or off' : 'must be on or off');
      return { kind: 'ha-hold', on: extra[0] === 'on' };
    case 'real add': {
      const upper = values.upper === undefined ? 0 : parseDecimal('--upper', values.upper, checkThreshold);
      const lower = values.lower === undefined ? 0 : parseDecimal('--lower', values.lower, checkThreshold);
      const bad = thresholdViolation(upper, lower);
      if (bad !== undefined) throw new InvalidArgumentError('--lower', lower, bad.reason.replace('upper_threshold', '--upper'));
      return {
        kind: 'real-add',
        ...realTarget(extra, values),
        real: {
          weight: values.weight === undefined ? 1 : parseDecimal('--weight', values.weight, checkWeight),
          method: checkMethod('--method', values.method ?? 'nat'),
          upper_threshold: upper,
          lower_threshold: lower,
        },
      };
    }
    case 'real remove':
      return { kind: 'real-remove', ...realTarget(extra, values) };
    default: // 'real set-weight'
      return {
        kind: 'real-set-weight',
        ...realTarget(extra, values),
        weight: parseDecimal('--weight', need(values, 'weight'), checkWeight),
      };
  }
}

function findService(services: readonly ServiceStatus[], key: ServiceKey): ServiceStatus {
  const svc = services.find((s) => serviceId(s) === serviceId(key));
  if (svc === undefined) throw new NotFoundError('service', serviceId(key));
  return svc;
}

/** The port a real add means when none was given: what the config would default it to. */
async function addPort(api: ApiClient, t: RealTarget, method: ForwardMethod): Promise<number> {
  if (t.port !== undefined) return t.port;
  const svc = findService(await api.listServices(), t.service);
  return defaultRealPort(method, svc.frontends);
}

/** The existing real meant by ADDR[:PORT]; without a port, the only real at that address. */
function findReal(svc: ServiceStatus, t: RealTarget): RealSpec {
  const matches = svc.reals.filter((r) => r.address === t.address && (t.port === undefined || r.port === t.port));
  const named = t.port === undefined ? t.address : realId({ address: t.address, port: t.port });
  if (matches.length === 0) throw new NotFoundError('real', `${named} in ${serviceId(t.service)}`);
  if (matches.length > 1) {
    throw new InvalidArgumentError('ADDR[:PORT]', t.address, `matches reals ${matches.map(realId).join(', ')}: give the port`);
  }
  const { counters: _c, active_conns: _a, inactive_conns: _i, ...spec } = matches[0] as ServiceStatus['reals'][number];
  return spec;
}

async function run(cmd: Exclude<Command, { kind: 'help' }>, socket: string): Promise<void> {
  const api = await connectApi(socket);
  try {
    switch (cmd.kind) {
      case 'list': {
        const services = await api.listServices();
        process.stdout.write(cmd.json ? toJson(services) : formatServiceTable(services, cmd.view));
        return;
      }
      case 'drops': {
        const drops = await api.drops();
        process.stdout.write(cmd.json ? toJson(drops) : formatDrops(drops));
        return;
      }
      case 'health': {
        const report = await api.listHealth();
        process.stdout.write(cmd.json ? toJson(report) : formatHealthTable(report, Date.now()));
        return;
      }
      case 'health-watch':
        await follow('health watch', (on, err) => api.watchHealth(on, err), cmd.json ? toJsonLine : formatHealthEvent);
        return;
      case 'ha': {
        const status = await api.haStatus();
        process.stdout.write(cmd.json ? toJson(status) : formatHaStatus(status, Date.now()));
        return;
      }
      case 'ha-watch':
        await follow('ha watch', (on, err) => api.watchHa(on, err), cmd.json ? toJsonLine : formatHaEvent);
        return;
      case 'ha-failover': {
        const s = await api.haFailover();
        process.stdout.write(`failover: ${s.node} is ${s.role}, ${s.peer.name} is ${s.peer.role}\n`);
        return;
      }
      case 'ha-hold': {
        const s = await api.setHaHold(cmd.on);
        process.stdout.write(`hold ${cmd.on ? 'on' : 'off'}: ${s.node} is ${s.role}${cmd.on ? ' and stays backup until hold off' : ' and takes part again'}\n`);
        return;
      }
      case 'capabilities': {
        const caps = await api.getCapabilities();
        process.stdout.write(cmd.json ? toJson(caps) : formatCapabilities(caps));
        return;
      }
      case 'overrides': {
        const list = await api.listOverrides();
        process.stdout.write(cmd.json ? toJson(overridesToJson(list)) : formatOverrides(list));
        return;
      }
      case 'overrides-clear': {
        const cleared = await api.clearOverrides(cmd.service);
        const where = cmd.service === undefined ? 'every service' : serviceId(cmd.service);
        process.stdout.write(`${cleared.length} override${cleared.length === 1 ? '' : 's'} of ${where} cleared; the config file applies\n`);
        return;
      }
      case 'real-add': {
        const real: RealSpec = { address: cmd.address, port: await addPort(api, cmd, cmd.real.method), ...cmd.real };
        await api.addReal(cmd.service, real);
        const limits = real.upper_threshold > 0 ? `, upper ${real.upper_threshold} lower ${real.lower_threshold}` : '';
        process.stdout.write(`real ${realId(real)} in ${serviceId(cmd.service)}: ${real.method}, weight ${real.weight}${limits}\n`);
        return;
      }
      case 'real-remove': {
        const real = cmd.port !== undefined ? cmd : findReal(findService(await api.listServices(), cmd.service), cmd);
        await api.removeReal(cmd.service, real.address, real.port as number);
        process.stdout.write(`real ${realId({ address: real.address, port: real.port as number })} removed from ${serviceId(cmd.service)}\n`);
        return;
      }
      case 'real-set-weight': {
        // AddReal replaces weight, method and thresholds together, so keep what the real has now.
        // Not atomic: a concurrent remove between the two calls would be undone by the add.
        const real = findReal(findService(await api.listServices(), cmd.service), cmd);
        await api.addReal(cmd.service, { ...real, weight: cmd.weight });
        process.stdout.write(`real ${realId(real)} in ${serviceId(cmd.service)}: weight ${cmd.weight}\n`);
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
