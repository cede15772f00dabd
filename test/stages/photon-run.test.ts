/**
 * The photon stage over the streaming session, called as a library user would:
 * isolated photons injected into frames are each found once, every scan is
 * handed to `onScan` before `run` returns, and the summary counts frames and
 * hits.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/host/engine.ts';
import type { ScanRecord } from '../../src/photon/session.ts';
import { arrayEvents } from '../../src/photon/sources.ts';
import { PHOTON_DEFAULTS, photonStage, silentContext, type PhotonSettings } from '../../src/stages/index.ts';
import { mulberry32 } from '../../src/util/random.ts';

/** Frames of zeros with `perFrame` single-pixel photons of 800 ADU, at least 4 pixels apart. */
function photonFrames(n: number, rows: number, cols: number, perFrame: number, seed: number): Float32Array[] {
  const u = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const f = new Float32Array(rows * cols);
    const placed: [number, number][] = [];
    while (placed.length < perFrame) {
      const r = 2 + Math.floor(u() * (rows - 4));
      const c = 2 + Math.floor(u() * (cols - 4));
      if (placed.some(([pr, pc]) => Math.abs(pr - r) < 4 && Math.abs(pc - c) < 4)) continue;
      placed.push([r, c]);
      f[r * cols + c] = 800;
    }
    return f;
  });
}

describe('photon stage', () => {
  it('finds every isolated photon once and hands each scan over', async () => {
    const settings: PhotonSettings = { ...PHOTON_DEFAULTS, correction: 'none', emin: 0, batch: 3 };
    const handed: ScanRecord[] = [];
    const r = await photonStage.run(
      silentContext(Engine.cpu()),
      { events: arrayEvents(photonFrames(7, 32, 40, 5, 11), [32, 40]), poni: null, onScan: async (scan) => void handed.push(scan) },
      settings,
    );
    expect(r.scans).toHaveLength(1);
    expect(handed).toHaveLength(1);
    expect(r.scans[0]).toMatchObject({ scan: handed[0]!.scan, frames: 7, hits: 35, integration: null });
    // a hit's energy is its 3×3 sum above the threshold: one 800 ADU pixel
    expect(r.scans[0]!.maxEnergy).toBe(800 - settings.threshold);
  });

  it('rejects bad settings naming the setting', async () => {
    await expect(photonStage.run(silentContext(Engine.cpu()), { events: arrayEvents([], [4, 4]), poni: null }, { ...PHOTON_DEFAULTS, batch: 0 })).rejects.toThrow(/field 'batch': batch must be an integer ≥ 1/);
  });
});
