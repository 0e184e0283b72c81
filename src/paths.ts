// SPDX-License-Identifier: Apache-2.0
// Where xlvs is installed: the nearest directory above this module that holds package.json (the
// repository, or wherever it was copied), so no module counts `../` levels under dist/.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  for (let d = dirname(fileURLToPath(import.meta.url)); ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return d;
    if (dirname(d) === d) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}: xlvs is not installed as built`);
  }
}

/** The install root: build/, dist/, proto/ and examples/ are under it. */
export const REPO_ROOT = findRoot();
/** A path under the install root. */
export const fromRoot = (...parts: string[]): string => join(REPO_ROOT, ...parts);
