// `spindle agent` for the CLI: start an agent (main.ts) on a listen address it has parsed.
export { AGENT_DEFAULT_LISTEN } from './constants.js';
export { parseListenAddress } from './listen-address.js';
export { startAgent } from './main.js';
