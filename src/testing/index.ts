/**
 * `unionmount/testing`: tools for tests of overlay behaviour. Layers stated as plain objects and
 * written in the kernel's format, trees as comparable text, and the differential harness that runs
 * the same steps on unionmount and on kernel overlayfs.
 */
export {
  writeLayer,
  readLayer,
  whiteout,
  opaqueDir,
  dir,
  symlink,
  file,
  fifo,
  type Node,
  type FileNode,
  type LayerSpec,
  type LayerFormatOptions,
} from './layers.js';
export { snapshot, type SnapshotOptions } from './tree.js';
export {
  compareWithKernel,
  kernelOverlayPossible,
  kernelOverlay,
  runOnKernel,
  runOnUnionmount,
  step,
  type Step,
  type Outcome,
  type CompareLayers,
  type CompareOptions,
  type Difference,
  type Comparison,
  type KernelMount,
} from './compare.js';
