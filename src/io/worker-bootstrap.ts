/**
 * What the HDF5 worker threads of src/io share: the JavaScript bootstrap that
 * loads a worker module of this folder (src/host/node-threads.ts's bootstrap,
 * with h5wasm imported first: through tsx's loader its 4 MB module takes
 * seconds), and the typed errors sent over a message port
 * (src/host/node-threads.ts).
 */
import { exportUrl, workerBootstrap as bootstrapOf, workerUrl } from '../host/node-threads.ts';

export { deserializeError, exportUrl, serializeError, type SerializedError } from '../host/node-threads.ts';

const bootstraps = new Map<string, string>();

/** JavaScript that loads worker module `module` of src/io (its name without extension), h5wasm first. */
export function workerBootstrap(module: string): string {
  const known = bootstraps.get(module);
  if (known !== undefined) return known;
  const code = bootstrapOf(workerUrl(import.meta.url, module), [exportUrl('h5wasm', './node')]);
  bootstraps.set(module, code);
  return code;
}
