// `spindle mount`: the namespace as a FUSE file system (docs/mount.md). SpindleMount mounts a
// connected SpindleClient at a directory; findFuseMount finds the FUSE mount on a directory.
export { SpindleMount, findFuseMount } from './mount.js';
