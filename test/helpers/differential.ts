/**
 * Differential runs against kernel overlayfs: the public harness of `unionmount/testing`
 * (src/testing/compare.ts), taken from dist/ because it mounts through the built CLI.
 */
import type { LayerSpec } from './layers.js';
import { runOnKernel, runOnUnionmount, type Outcome, type Step } from '../../dist/testing/index.js';

export { step, type Step, type Outcome } from '../../dist/testing/index.js';

export const onKernel = (lowers: LayerSpec[], upper: LayerSpec, steps: Step[]): Outcome =>
  runOnKernel({ lowers, upper }, steps);

export const onUnionmount = (
  lowers: LayerSpec[],
  upper: LayerSpec,
  steps: Step[],
): Promise<Outcome> => runOnUnionmount({ lowers, upper }, steps);
