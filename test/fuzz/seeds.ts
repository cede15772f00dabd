/** Small valid seed inputs for the fuzz tests, cut from the real data in ../shared/data. */
import { readFileSync } from 'node:fs';
import { decodeCbf, encodeCbf } from '../../src/io/cbf.ts';
import { decodeSmv, encodeSmv } from '../../src/io/smv.ts';
import { sharedData } from '../helpers/paths.ts';

/** The top-left `w`×`h` corner of row-major `pixels` (`width` wide). */
export function crop(pixels: Int32Array, width: number, w: number, h: number, x0 = 0, y0 = 0): Int32Array {
  const out = new Int32Array(w * h);
  for (let y = 0; y < h; y++) out.set(pixels.subarray((y0 + y) * width + x0, (y0 + y) * width + x0 + w), y * w);
  return out;
}

/**
 * A real Pilatus miniCBF (l-cysteine frame 1) cut to `w`×`h` pixels around the
 * beam: the file's own CIF header, then a binary section re-encoded for the crop.
 */
export function smallCbf(w = 24, h = 16): Uint8Array {
  const real = readFileSync(sharedData('l-cysteine', 'images', 'l-cyst_01_00001.cbf'));
  const img = decodeCbf(real, 'l-cyst_01_00001.cbf');
  const section = '--CIF-BINARY-FORMAT-SECTION--';
  const small = encodeCbf({ width: w, height: h, pixels: crop(img.pixels, img.width, w, h, 720, 850) });
  const realHead = real.subarray(0, real.indexOf(section, 0, 'latin1'));
  const ownBody = small.subarray(Buffer.from(small).indexOf(section, 0, 'latin1'));
  return new Uint8Array(Buffer.concat([realHead, ownBody]));
}

/** A real SMV frame (snase frame 1) cut to `w`×`h` pixels, with the file's own header values. */
export function smallSmv(w = 20, h = 12): Uint8Array {
  const real = readFileSync(sharedData('snase', 'images', 'snc_newhead_00001.img'));
  const img = decodeSmv(real, 'snc_newhead_00001.img');
  const keep = ['WAVELENGTH', 'DISTANCE', 'PIXEL_SIZE', 'PHI', 'OSC_START', 'OSC_RANGE', 'BEAM_CENTER_X', 'BEAM_CENTER_Y', 'TIME', 'DETECTOR_SN'];
  const fields: Record<string, string> = {};
  for (const k of keep) {
    const v = img.header.raw.get(k);
    if (v !== undefined) fields[k] = v;
  }
  return encodeSmv({ width: w, height: h, pixels: crop(img.pixels, img.width, w, h, 500, 480), fields });
}

/**
 * A small legacy-pickle `.refl` cut from the real `l-cysteine/scaled/scaled_30.refl`
 * (2 MB, 39 columns): the pickle's own opcodes with only 6 columns kept (int,
 * double, bool, size_t, int `id`, miller_index; 5308 rows). Byte ranges are the
 * columns' spans in that file (`python3 -m pickletools`); the decoder ignores the
 * stored column count.
 */
export function smallReflPickle(): Uint8Array {
  const b = readFileSync(sharedData('l-cysteine', 'scaled', 'scaled_30.refl'));
  const spans: Array<[number, number]> = [
    [0, 5500], // PROTO, reflection_table, state tuple, column dict, imageset_id (int; defines the grid and int classes)
    [150210, 178181], // intensity.sum.variance (double)
    [211970, 217358], // entering (bool)
    [252574, 265142], // partial_id (size_t)
    [265142, 270489], // id (int)
    [1181204, 1210284], // miller_index
    [1968431, b.length], // SETITEMS, TUPLE, BUILD, STOP
  ];
  return new Uint8Array(Buffer.concat(spans.map(([s, e]) => b.subarray(s, e))));
}
