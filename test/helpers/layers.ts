/**
 * Layers for tests: the public builders of `unionmount/testing` (src/testing/layers.ts), plus a
 * scratch directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export * from '../../src/testing/layers.js';

/** A scratch directory removed by the returned function. */
export function scratch(prefix = 'um-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
