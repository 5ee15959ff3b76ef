/** Trees as comparable text: the public testing module's snapshot (src/testing/tree.ts). */
export { snapshot, type SnapshotOptions } from '../../src/testing/tree.js';
