// The namespace module: the metadata operations (Namespace), as the meta server takes them.
export { Namespace } from './namespace.js';
