// SPDX-License-Identifier: Apache-2.0
// Sysctls read and written as their /proc/sys files (open/read/write syscalls, no sysctl(8)).
// Names are sysctl(8)'s: dots separate the levels, and a dot inside one level (an interface
// such as eth0.100) is written as '/'. The net.* files belong to the network namespace of the
// thread that opens them.

import { closeSync, openSync, readFileSync, writeSync, constants } from 'node:fs';
import { InvalidArgumentError, SysctlError } from '../errors.js';

const PROC_SYS = '/proc/sys';
const EIO = 5;

/** "net.ipv4.conf.eth0/100.rp_filter" → /proc/sys/net/ipv4/conf/eth0.100/rp_filter. */
export function sysctlPath(name: string): string {
  const levels = name.split('.');
  if (levels.some((l) => l === '' || l === '..' || l.includes('\0'))) throw new InvalidArgumentError('sysctl', name, 'must be dot-separated names, e.g. net.ipv4.ip_forward');
  return `${PROC_SYS}/${levels.map((l) => l.replaceAll('/', '.')).join('/')}`;
}

/** The sysctl(8) name of one of an interface's settings: net.ipv4.conf.DEV.KEY (dots in DEV kept). */
export const interfaceSysctl = (family: 4 | 6, dev: string, key: string): string => `net.ipv${family}.conf.${dev.replaceAll('.', '/')}.${key}`;

/** The value, without its trailing newline; SysctlError naming the sysctl when unreadable. */
export function readSysctl(name: string): string {
  const path = sysctlPath(name);
  try {
    return readFileSync(path, 'utf8').replace(/\n$/, '');
  } catch (e) {
    throw asSysctlError(e, name);
  }
}

/** Writes the value; SysctlError naming sysctl and value when the kernel refuses it. */
export function writeSysctl(name: string, value: string): void {
  const path = sysctlPath(name);
  let fd: number | undefined;
  try {
    // O_WRONLY without O_CREAT: a missing sysctl is ENOENT, and write-only ones work too.
    fd = openSync(path, constants.O_WRONLY);
    writeSync(fd, value);
  } catch (e) {
    throw asSysctlError(e, name, value);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function asSysctlError(e: unknown, name: string, value?: string): SysctlError {
  const errno = typeof (e as NodeJS.ErrnoException).errno === 'number' ? Math.abs((e as NodeJS.ErrnoException).errno!) : EIO;
  return new SysctlError(name, errno, value, { cause: e });
}
