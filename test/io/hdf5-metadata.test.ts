/**
 * HDF5 metadata in a worker with a time limit (issue 13): the NeXus master on
 * which h5wasm loops forever (test/fixtures/hdf5-hang, found by the fuzz test
 * with FUZZ_SEED=99) is a FormatError naming it instead of a hang, through both
 * the geometry reader and the frame source; the worker is replaced afterwards,
 * and a read queued behind the hanging one still gets its own answer.
 */
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.ts';
import { HDF5_METADATA_TIMEOUT_S, metadataTimeoutS } from '../../src/io/hdf5-metadata.ts';
import { experimentFromNexus } from '../../src/io/nexus-geometry.ts';
import { writeNexusSeries } from '../../src/io/nexus-write.ts';
import { openFrameSource } from '../../src/io/sources/open.ts';
import { REPO_ROOT } from '../helpers/paths.ts';
import { rejectionOf, tempDir } from './helpers.ts';
import { NEXUS_GEOMETRY } from './nexus-fixture.ts';

const HANG = join(REPO_ROOT, 'test', 'fixtures', 'hdf5-hang', 'nx_master.h5');
const ENV = 'DIFFRACT_HDF5_METADATA_TIMEOUT_S';
const saved = process.env[ENV];
const tmp = tempDir('hdf5-metadata');
afterAll(tmp.remove);
afterEach(() => {
  if (saved === undefined) delete process.env[ENV];
  else process.env[ENV] = saved;
});

async function validMaster(): Promise<string> {
  const master = join(tmp.dir, 'ok_master.h5');
  const frames = [0, 1].map((k) => Uint16Array.from({ length: 40 * 24 }, (_, i) => (i * 7 + k * 131) % 5000));
  await writeNexusSeries(master, { frames, width: 40, height: 24, compression: 'lz4', geometry: NEXUS_GEOMETRY });
  return master;
}

describe('HDF5 metadata worker', () => {
  it('the time limit: DIFFRACT_HDF5_METADATA_TIMEOUT_S when a positive number, else the default', () => {
    process.env[ENV] = '2.5';
    expect(metadataTimeoutS()).toBe(2.5);
    for (const bad of ['', '0', '-3', 'abc']) {
      process.env[ENV] = bad;
      expect(metadataTimeoutS()).toBe(HDF5_METADATA_TIMEOUT_S);
    }
  });

  it('the looping NeXus master is a FormatError naming it; a read queued behind it and later reads are answered', async () => {
    const ok = await validMaster();
    process.env[ENV] = '2';
    const hanging = rejectionOf(experimentFromNexus(HANG));
    const queued = experimentFromNexus(ok);
    const err = await hanging;
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toBe(`${HANG}: HDF5 metadata could not be read within 2 s: damaged file?`);
    expect((await queued).experiments[0]!.beam.wavelength).toBeCloseTo(NEXUS_GEOMETRY.wavelength, 9);

    const viaSource = await rejectionOf(openFrameSource(HANG, { workers: 0 }));
    expect(viaSource).toBeInstanceOf(FormatError);
    expect(viaSource.message).toContain(HANG);

    // a fresh worker reads frames (layout and header from the worker, pixels on this thread)
    const src = await openFrameSource(ok, { workers: 0 });
    try {
      const img = await src.read(1);
      expect([src.length, img.width, img.height, img.pixels[5]]).toEqual([2, 40, 24, (5 * 7 + 131) % 5000]);
    } finally {
      await src.close();
    }
  }, 120_000);
});
