/**
 * unionmount's programmatic API. `mountUnion` mounts layers through FUSE (served by a child
 * process); `openOverlay` gives the overlay core itself, without FUSE, for tools and tests.
 */
export { mountUnion, type MountUnionOptions, type MountedUnion } from './api.js';
export { resolveConfig, type UnionOptions, type UnionConfig } from './config.js';
export { serveUnion, openOverlay, type ServedUnion } from './daemon.js';
export { Overlay, type UnionEvent, type Attributes, type Caller } from './core/overlay.js';
export { OverlayFormat, TRUSTED_PREFIX, USER_PREFIX } from './core/format.js';
export { FsError } from './core/errors.js';
export { UnionmountError } from './errors.js';
export { type TracedEvent, type TraceEvent, type TraceFormat } from './trace.js';
export { inspect, type Inspection } from './tools/inspect.js';
export { diff, type Change } from './tools/diff.js';
export { commit, squash } from './tools/commit.js';
export { discard } from './tools/discard.js';
export { df, type DiskUsage } from './tools/df.js';
export { importImage, exportLayer, type ImportedImage, type ExportedLayer } from './tools/oci.js';
export { openStack, type Stack } from './tools/stack.js';
