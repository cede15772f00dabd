/**
 * Fuzz: HDF5 frame files (real Eiger data files) and NeXus masters (as diffract
 * writes them) take mutants and give frames / geometry or a typed error (issue 13).
 * h5wasm may print HDF5-DIAG lines on stderr for broken files; only the outcome is judged here.
 * Found by it: h5wasm throws plain Errors ('error - name not defined!') and, on a
 * corrupt attribute, an HDF5 abort() (a WebAssembly RuntimeError, FUZZ_SEED=4242
 * FUZZ_RUNS=400): both are FormatErrors naming the file now (src/io/hdf5.ts h5Guard).
 * With FUZZ_SEED=99 FUZZ_RUNS=300 a NeXus-master mutant makes h5wasm loop forever
 * reading an attribute (`Fields.attr` in nexus-geometry.ts; test/fixtures/hdf5-hang):
 * metadata is now read in a worker with a time limit (src/io/hdf5-metadata.ts), so it is
 * a FormatError after DIFFRACT_HDF5_METADATA_TIMEOUT_S (10 s here unless set).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileAccessError, FormatError } from '../../src/errors.ts';
import { experimentFromNexus } from '../../src/io/nexus-geometry.ts';
import { writeNexusSeries } from '../../src/io/nexus-write.ts';
import { openFrameSource } from '../../src/io/sources/open.ts';
import { sharedData } from '../helpers/paths.ts';
import { rejectionOf } from '../io/helpers.ts';
import { NEXUS_GEOMETRY } from '../io/nexus-fixture.ts';
import { expectAllFinite, expectTypedOrValidAsync, fuzzAsync, mutantArb } from './mutate.ts';
import { fuzzFolder } from './tmp.ts';

const { dir, put } = fuzzFolder('hdf5');
// h5wasm errors carry many WebAssembly frames: keep enough to see the reader's own
Error.stackTraceLimit = 60;
// a mutant on which h5wasm loops costs this long (the valid reads here take milliseconds)
process.env.DIFFRACT_HDF5_METADATA_TIMEOUT_S ??= '10';

const GEOMETRY = NEXUS_GEOMETRY;

async function readAllFrames(path: string): Promise<number> {
  const src = await openFrameSource(path, { workers: 0 });
  try {
    for (let i = 0; i < src.length; i++) {
      const img = await src.read(i);
      expect(img.pixels.length).toBe(img.width * img.height);
    }
    return src.length;
  } finally {
    await src.close();
  }
}

describe('HDF5 / NeXus reader fuzz', () => {
  // real Eiger2 data files (LZ4 and bitshuffle-LZ4 chunks, 2 frames of 512×1028): 49 and 54 kB
  const eigerLz4 = new Uint8Array(readFileSync(sharedData('eiger', 'eiger2_simread7_2datafiles_4images_lz4_data_000001.h5')));
  const eigerBslz4 = new Uint8Array(readFileSync(sharedData('eiger', 'eiger2_simread7_2datafiles_4images_bslz4_data_000001.h5')));

  it('the seeds read: the README frame sums of the real Eiger file', async () => {
    const src = await openFrameSource(put('seed.h5', eigerLz4), { workers: 0 });
    let sum = 0;
    for (const p of (await src.read(0)).pixels) sum += p;
    await src.close();
    expect(sum).toBe(3648540);
  });

  it('mutants of real Eiger data files give frames or a typed error naming the file', async () => {
    await fuzzAsync([mutantArb([eigerLz4, eigerBslz4], { focus: 4096 })], async (bytes) => {
      const path = put('fuzz.h5', bytes);
      await expectTypedOrValidAsync(() => readAllFrames(path), path);
    }, 40);
  });

  it('mutants of a NeXus master give geometry and frames or a typed error', async () => {
    const master = join(dir, 'nx_master.h5');
    const frames = [0, 1].map((k) => Uint16Array.from({ length: 40 * 24 }, (_, i) => (i * 7 + k * 131) % 5000));
    await writeNexusSeries(master, { frames, width: 40, height: 24, compression: 'lz4', geometry: GEOMETRY });
    const seed = new Uint8Array(readFileSync(master));
    const list = await experimentFromNexus(master);
    expect(list.experiments[0]!.beam.wavelength).toBeCloseTo(GEOMETRY.wavelength, 9);
    await fuzzAsync([mutantArb([seed], { focus: 8192 })], async (bytes) => {
      put('nx_master.h5', bytes);
      await expectTypedOrValidAsync(() => experimentFromNexus(master), master, expectAllFinite);
      await expectTypedOrValidAsync(() => readAllFrames(master), master);
    }, 40);
  });

  it('truncated, empty and non-HDF5 files are typed errors before h5wasm opens them', async () => {
    for (const [name, bytes, kind] of [
      ['cut.h5', eigerLz4.subarray(0, 5000), FormatError],
      ['empty.h5', new Uint8Array(), FormatError],
      ['text.h5', new Uint8Array(Buffer.from('not hdf5 at all')), FormatError],
    ] as const) {
      const path = put(name, bytes);
      const err = await rejectionOf(readAllFrames(path));
      expect(err).toBeInstanceOf(kind);
      expect(err.message).toContain(path);
    }
    expect(await rejectionOf(readAllFrames(join(dir, 'missing.h5')))).toBeInstanceOf(FileAccessError);
  });
});
