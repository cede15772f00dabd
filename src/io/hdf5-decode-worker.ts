/**
 * Decode worker for HDF5 image series (started by `openHdf5Series` with
 * `workers > 0`, through a small JavaScript bootstrap that registers tsx).
 *
 * `workerData` is a `WorkerInit` (the resolved layout: data files, dataset
 * paths, frame counts). The worker opens the data files itself with its own
 * h5wasm instance and answers every `decode` request with the frame's native
 * buffer (transferred, not copied) or with the serialized typed error.
 * Decoding goes through the thread's private h5wasm decoder instance, which
 * is rebuilt after a chunk fails to decode (see `Hdf5FrameReader`). It keeps
 * its file handles open until the thread is terminated.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Hdf5FrameReader, type WorkerInit, type WorkerReply, type WorkerRequest } from './eiger-h5.ts';
import { h5Plugins } from './hdf5.ts';
import { serializeError } from './worker-bootstrap.ts';

const port = parentPort;
if (port === null) throw new Error('hdf5-decode-worker.ts must run in a worker thread');
const init = workerData as WorkerInit;
const reader = new Hdf5FrameReader(init.layout);
// requests are answered one at a time, in the order they came
let chain: Promise<void> = h5Plugins();

port.on('message', (msg: WorkerRequest) => {
  chain = chain.then(async () => {
    let reply: WorkerReply;
    const transfer: ArrayBuffer[] = [];
    try {
      const native = await reader.readNative(msg.index, msg.frame);
      // a fresh array from h5wasm: its buffer can be handed over whole unless it is a view into something larger
      const buffer =
        native.byteOffset === 0 && native.byteLength === native.buffer.byteLength && native.buffer instanceof ArrayBuffer
          ? native.buffer
          : (native.slice().buffer as ArrayBuffer);
      transfer.push(buffer);
      reply = { type: 'frame', id: msg.id, buffer, pixelType: init.layout.pixelType };
    } catch (err) {
      reply = { type: 'error', id: msg.id, error: serializeError(err) };
    }
    port.postMessage(reply, transfer);
  });
});
