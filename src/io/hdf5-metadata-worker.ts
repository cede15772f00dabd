/**
 * The metadata worker (started by src/io/hdf5-metadata.ts through the
 * bootstrap of worker-bootstrap.ts): answers each request with the frame
 * layout and the NeXus header or NXmx values of a file, read with this
 * thread's h5wasm (compression plugins installed first), or with the
 * serialized typed error. It says `started` before each read so that the
 * parent's time limit counts the read, not this thread's start-up.
 */
import { parentPort } from 'node:worker_threads';
import { h5Plugins } from './hdf5.ts';
import { resolveHdf5Layout } from './hdf5-layout.ts';
import type { MetadataMessage, MetadataReply, MetadataRequest } from './hdf5-metadata.ts';
import { readNexusHeaderOf, readNxmxValuesOf } from './nexus-geometry.ts';
import { serializeError } from './worker-bootstrap.ts';

const port = parentPort;
if (port === null) throw new Error('hdf5-metadata-worker.ts must run in a worker thread');
const ready = h5Plugins();

function read(r: MetadataRequest): unknown {
  switch (r.op) {
    case 'series':
      return { layout: resolveHdf5Layout(r.file, r.dataset, r.candidates), info: readNexusHeaderOf(r.file) };
    case 'nexus':
      return { layout: resolveHdf5Layout(r.file), values: readNxmxValuesOf(r.file) };
  }
}

port.on('message', (msg: MetadataMessage) => {
  void ready.then(() => {
    port.postMessage({ id: msg.id, type: 'started' } satisfies MetadataReply);
    let reply: MetadataReply;
    try {
      reply = { id: msg.id, type: 'done', value: read(msg.request) };
    } catch (err) {
      reply = { id: msg.id, type: 'error', error: serializeError(err) };
    }
    port.postMessage(reply);
  });
});
