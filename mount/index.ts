// `spindle mount`: the namespace as a FUSE file system (docs/mount.md). SpindleMount mounts a
// connected SpindleClient at a directory; SpindleFuseFs maps FUSE requests onto the client.
export {
  SpindleMount,
  clearStaleMount,
  detachMount,
  findFuseMount,
  isStaleMount,
  listMounts,
  MOUNT_FSTYPE,
  type MountEntry,
  type MountOptions,
} from './mount.js';
export { SpindleFuseFs, errnoOf, type FuseFsOptions, type FuseReplies } from './fuse-fs.js';
export { OpenFile, BufferPool } from './open-file.js';
export { loadFuseAddon, ADDON_PATH, FuseOp, type FuseAddon } from './native.js';
export * as mountLimits from './constants.js';
