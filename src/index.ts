/**
 * unionmount's programmatic API. `mountUnion` mounts layers through FUSE (served by a child
 * process); `openOverlay` gives the overlay core itself, without FUSE, for tools and tests.
 */
export { mountUnion, type MountUnionOptions, type MountedUnion } from './api.js';
export { resolveConfig, type UnionOptions, type UnionConfig } from './config.js';
export {
  serveUnion,
  openOverlay,
  type ServedUnion,
  type ServeHooks,
  type OverlayOptions,
} from './daemon.js';
export {
  Overlay,
  type UnionEvent,
  type Attributes,
  type Caller,
  type OverlayLayers,
  type RedirectDir,
} from './core/overlay.js';
export type { CopyUpEvent } from './core/copy-up.js';
export type { Entry, LayerPath } from './core/entry.js';
export type { Lookup, Listed } from './core/lookup.js';
export type { StatCache } from './core/stat-cache.js';
export { WorkDir } from './core/workdir.js';
export type { MountStats, CacheCounters } from './fuse/stats.js';
export type { InodeNumbers } from './core/inodes.js';
export type { OpenFiles } from './core/open-files.js';
export type {
  ReadableLayer,
  WritableLayer,
  Stat,
  DirEntry,
  Owner,
  FileHandle,
} from './layers/layer.js';
export { DiskLayer, WritableDiskLayer } from './layers/disk.js';
export type { Timespec } from './layers/native.js';
export { OverlayFormat, TRUSTED_PREFIX, USER_PREFIX } from './core/format.js';
export { FsError } from './core/errors.js';
export { UnionmountError } from './errors.js';
export {
  type TracedEvent,
  type TraceEvent,
  type TraceFormat,
  type RedirectEvent,
} from './trace.js';
export {
  inspect,
  type Inspection,
  type DirectoryEntry,
  type LayerRow,
  type LayerObject,
  type LayerState,
} from './tools/inspect.js';
export { diff, type Change, type ChangeKind } from './tools/diff.js';
export { commit, squash, type LayerCopyOptions } from './tools/commit.js';
export type { Progress } from './tools/copy.js';
export { discard, type Discarded } from './tools/discard.js';
export { df, type DiskUsage, type LayerUsage, type UpperUsage } from './tools/df.js';
export {
  importImage,
  exportLayer,
  type ImportedImage,
  type ExportedLayer,
  type ExportOptions,
} from './tools/oci.js';
export { openStack, type Stack } from './tools/stack.js';
