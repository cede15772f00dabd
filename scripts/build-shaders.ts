/**
 * Writes src/kernels/shaders.generated.ts: the text of every shaders/**\/*.wgsl
 * file as a string, so that the host reads WGSL without a file system (a
 * browser bundle included). Run it after editing a .wgsl file:
 *
 *   node bin/run-ts.js scripts/build-shaders.ts
 *
 * test/browser/shaders-generated.test.ts fails while the module is stale.
 */
import { writeFileSync } from 'node:fs';
import { GENERATED_SHADERS_FILE, listShaderFiles, renderShaderModule } from '../src/host/node-shaders.ts';

const text = renderShaderModule();
writeFileSync(GENERATED_SHADERS_FILE, text);
console.log(`wrote ${GENERATED_SHADERS_FILE}: ${listShaderFiles().length} shaders, ${text.length} characters`);
