// The storage module's public surface: exactly what other modules use of it. A storage node runs
// as its own process (storage/main.ts, spawned by cluster/), so nothing imports the node itself;
// from outside, only the block I/O backends are used: `spindle doctor` (cli/) probes io_uring and
// asks which backend a node would choose in a directory, and bench/tools/uring-measure.ts measures
// both backends. Anything added here must have a user outside storage/.
export type { BlockIo, BlockIoKind } from './chunk-engine/block-io.js';
export { chooseBlockIo } from './chunk-engine/choose-block-io.js';
export { FsBlockIo } from './chunk-engine/fs-block-io.js';
export { URING_ADDON_PATH, UringBlockIo, loadUringAddon, probeUring } from './chunk-engine/uring-block-io.js';
