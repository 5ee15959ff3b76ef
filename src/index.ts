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
