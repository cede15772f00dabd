/**
 * `diffract photon-calib SOURCE… --out FILE.poni`: fits a pyFAI PONI geometry
 * to calibrant powder rings in the accumulated frames of a stream (the ring fit
 * of src/photon/ring-fit.ts). This is how test/photon/lab6.poni was made:
 *
 *   diffract photon-calib femtomax/pilatus-lab6.cbors.gz --wavelength 0.9 \
 *     --fit-wavelength --pixel 172e-6 --detector Pilatus --out lab6.poni
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { FileAccessError, InvalidValueError, UsageError } from '../../errors.ts';
import { formatPoni, readPoni } from '../../io/poni.ts';
import { fitRings, lab6DSpacings } from '../../photon/ring-fit.ts';
import { PhotonSession } from '../../photon/session.ts';
import { mergeEvents, openSource } from '../../photon/sources.ts';
import { withEngine } from '../engine-options.ts';
import type { CommandSpec } from '../command-spec.ts';

interface CalibOptions {
  out: string;
  calibrant: string;
  dSpacings?: string;
  rings?: string;
  wavelength?: string;
  energy?: string;
  fitWavelength?: boolean;
  pixel: string;
  detector: string;
  initial?: string;
}

export const photonCalibCommand: CommandSpec = {
  name: 'photon-calib',
  register(program) {
    program
      .command('photon-calib')
      .description('fit a pyFAI PONI geometry to calibrant rings in the accumulated frames of a stream')
      .argument('<source...>', '.cbors[.gz] recordings, FILE.h5[:/dataset] or tcp://host:port')
      .requiredOption('--out <file>', 'the PONI file to write')
      .option('--calibrant <name>', 'lab6 (a = 4.15692 Å), or lab6:A for another cubic cell edge A', 'lab6')
      .option('--d-spacings <list>', 'ring d-spacings in Å, comma separated (instead of --calibrant)')
      .option('--rings <n>', 'fit the first n rings (default: all of the calibrant list)')
      .option('--wavelength <Å>', 'X-ray wavelength (the start value with --fit-wavelength)')
      .option('--energy <keV>', 'X-ray energy, instead of --wavelength')
      .option('--fit-wavelength', 'refine the wavelength too (start within ~10 %)')
      .option('--pixel <m>', 'pixel size in metres', '172e-6')
      .option('--detector <name>', 'detector name written into the PONI', 'Detector')
      .option('--initial <file.poni>', 'start from this geometry instead of the coarse centre search')
      .action(async (sources: string[], o: CalibOptions, cmd: Command) => {
        let lambdaA: number;
        if (o.wavelength !== undefined) lambdaA = Number(o.wavelength);
        else if (o.energy !== undefined) lambdaA = 12.398419843320026 / Number(o.energy);
        else throw new UsageError('give --wavelength or --energy (a stream header energy may be the detector threshold setting, not the beam)', { field: '--wavelength' });
        if (!(lambdaA > 0)) throw new UsageError('the wavelength must be positive', { field: '--wavelength' });
        const pixel = Number(o.pixel);
        if (!(pixel > 0)) throw new UsageError(`--pixel must be positive, got '${o.pixel}'`, { field: '--pixel' });
        let d: number[];
        if (o.dSpacings !== undefined) d = o.dSpacings.split(',').map(Number);
        else {
          const m = /^lab6(?::([\d.]+))?$/i.exec(o.calibrant);
          if (m === null) throw new UsageError(`unknown calibrant '${o.calibrant}' (lab6 or lab6:A; or give --d-spacings)`, { field: '--calibrant' });
          d = lab6DSpacings(m[1] !== undefined ? Number(m[1]) : undefined).map((r) => r.d);
        }
        if (d.length === 0 || d.some((x) => !(x > 0))) throw new UsageError('d-spacings must be positive numbers', { field: '--d-spacings' });
        if (o.rings !== undefined) d = d.slice(0, Number(o.rings));
        const initial = o.initial !== undefined ? readPoni(o.initial) : undefined;
        await withEngine(cmd, async (engine) => {
          const session = new PhotonSession({ engine, photon: null });
          const opened = sources.map((s) => openSource(s));
          await session.run(opened.length === 1 ? (opened[0] as ReturnType<typeof openSource>) : mergeEvents(...opened));
          const acc = session.accumulatedImage();
          if (acc === null) throw new InvalidValueError('the sources hold no frames', { field: 'source' });
          const fit = fitRings({
            image: acc.data,
            valid: acc.valid,
            rows: acc.shape[0],
            cols: acc.shape[1],
            pixel1: pixel,
            pixel2: pixel,
            wavelength: lambdaA * 1e-10,
            fitWavelength: o.fitWavelength === true,
            dSpacings: d,
            detector: o.detector,
            ...(initial !== undefined ? { initial } : {}),
          });
          const text = formatPoni(fit.poni, [
            `fitted by diffract photon-calib to ${d.length} rings in the sum of ${acc.frames} frames of ${sources.join(', ')}`,
            `control points ${fit.points}, rms relative q residual ${fit.rmsRelQ.toExponential(3)}`,
          ]);
          try {
            writeFileSync(o.out, text);
          } catch (err) {
            throw new FileAccessError(`cannot write: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { file: o.out });
          }
          const g = fit.poni;
          process.stdout.write(
            `dist ${(g.dist * 1e3).toFixed(3)} mm, poni1 ${(g.poni1 * 1e3).toFixed(3)} mm, poni2 ${(g.poni2 * 1e3).toFixed(3)} mm, rot1 ${g.rot1.toFixed(5)}, rot2 ${g.rot2.toFixed(5)} rad, λ ${(g.wavelength * 1e10).toFixed(5)} Å (${(12.398419843320026 / (g.wavelength * 1e10)).toFixed(3)} keV)\n` +
              fit.rings.map((r) => `  d ${r.d.toFixed(4)} Å: 2θ ${r.tthDeg.toFixed(3)}°, ${r.points} points, mean residual ${r.meanResidualDeg.toFixed(4)}°`).join('\n') +
              `\n→ ${o.out}\n`,
          );
        });
      });
  },
};
