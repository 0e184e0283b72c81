// SPDX-License-Identifier: Apache-2.0
// Where the API server listens: a gRPC address, either a unix socket (the default, guarded by
// file permissions) or host:port. For unix sockets the path must be made ready before binding:
// the parent dir may not exist yet (/run is a tmpfs) and a daemon that died leaves its socket
// file behind, which would make bind fail with EADDRINUSE.

import { chmod, chown, lstat, mkdir, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { InvalidArgumentError, XlvsError } from '../errors.js';

export type ListenTarget = { kind: 'unix'; path: string } | { kind: 'tcp'; hostPort: string };

/** The listen address cannot be prepared or bound; `address` is the path or address concerned. */
export class ListenError extends XlvsError {
  constructor(readonly address: string, message: string, options?: { cause?: unknown }) {
    super('E_API_LISTEN', message, options);
  }
}

/**
 * Accepts the forms grpc-js resolves: "unix:PATH" and "unix:///ABSOLUTE/PATH", or
 * "HOST:PORT" / "[V6]:PORT". "unix://authority/..." is refused: grpc would read the
 * authority as part of a relative path, which is never what was meant.
 */
export function parseListenAddress(listen: string): ListenTarget {
  if (listen.startsWith('unix:')) {
    let path: string;
    if (listen.startsWith('unix:///')) path = listen.slice('unix://'.length);
    else if (listen.startsWith('unix://')) {
      throw new InvalidArgumentError('listen', listen, 'must be unix:PATH or unix:///ABSOLUTE/PATH');
    } else path = listen.slice('unix:'.length);
    if (path === '') throw new InvalidArgumentError('listen', listen, 'unix socket path is empty');
    return { kind: 'unix', path };
  }
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):[0-9]+$/.test(listen)) {
    throw new InvalidArgumentError('listen', listen, 'must be unix:PATH or HOST:PORT');
  }
  return { kind: 'tcp', hostPort: listen };
}

/** True when nothing but this host can reach a TCP listen address. */
export function isLoopbackHostPort(hostPort: string): boolean {
  const host = hostPort.slice(0, hostPort.lastIndexOf(':'));
  return host === 'localhost' || host === '[::1]' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(host);
}

/**
 * The unix socket's mode: its owner (root) and group may connect, nobody else. Set explicitly:
 * the process's umask (000 under some service managers) must not decide who can add reals.
 */
export const SOCKET_MODE = 0o660;

/** Umask bits added while binding: others get no access from the socket's first moment. */
const BIND_UMASK = 0o007;

/**
 * Runs `bind` (which creates the socket at `path`) under a umask that keeps others out, then
 * gives the socket SOCKET_MODE and, if given, the group `gid` (default: the daemon's, root's).
 */
export async function bindUnixSocket<T>(path: string, bind: () => Promise<T>, gid?: number): Promise<T> {
  const old = process.umask(BIND_UMASK);
  process.umask(old | BIND_UMASK);
  let bound: T;
  try {
    bound = await bind();
  } finally {
    process.umask(old);
  }
  await setSocketAccess(path, gid);
  return bound;
}

/** Group (when given), then mode SOCKET_MODE, of the socket at `path`. */
export async function setSocketAccess(path: string, gid?: number): Promise<void> {
  if (gid !== undefined) await chown(path, -1, gid);
  await chmod(path, SOCKET_MODE);
}

/** The id of group `name` (from /etc/group), or of a numeric id as given. */
export async function groupId(name: string, field = '--socket-group'): Promise<number> {
  if (/^[0-9]{1,10}$/.test(name) && Number(name) < 0xffffffff) return Number(name);
  const groups = await readFile('/etc/group', 'utf8');
  for (const line of groups.split('\n')) {
    const [group, , gid] = line.split(':');
    if (group === name && gid !== undefined && /^[0-9]+$/.test(gid)) return Number(gid);
  }
  throw new InvalidArgumentError(field, name, 'no such group in /etc/group');
}

/** Resolves true if something accepts connections on the socket, false on ECONNREFUSED. */
function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      sock.destroy();
      if (err.code === 'ECONNREFUSED') resolve(false);
      else reject(err);
    });
  });
}

/**
 * Creates the socket's parent dir and removes a stale socket file. Refuses to remove a path
 * that is not a socket, or a socket another process is still serving on (a second daemon
 * must not silently steal the first one's API).
 */
export async function prepareUnixSocket(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // nothing to clean up
    throw err;
  }
  if (!isSocket) {
    throw new ListenError(path, `${path} exists and is not a socket; refusing to remove it`);
  }
  if (await socketIsLive(path)) {
    throw new ListenError(path, `${path} is in use by another process (is xlvsd already running?)`);
  }
  await rm(path, { force: true });
}
