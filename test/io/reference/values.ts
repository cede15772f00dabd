/**
 * Reference values for the shared real data, computed independently of
 * src/io by `compute_reference.py` in this folder (a plain Python
 * byte-offset decoder, MD5 checked with hashlib, and numpy for SMV); copied
 * here by hand from its output.
 * md5 = MD5 of the frame's pixels as little-endian int32, row-major.
 */

export interface CbfReference {
  file: string;
  /** sum of all pixels, markers included */
  sum: number;
  /** sum of the pixels ≥ 0 */
  sumCounts: number;
  max: number;
  maxAt: readonly [number, number];
  md5: string;
}

/** l-cysteine (Pilatus 2M, 1475×1679): every frame has 197365 pixels at −1 and 267 at −2. */
export const L_CYSTEINE: readonly CbfReference[] = [
  { file: 'l-cyst_01_00001.cbf', sum: -142707, sumCounts: 55192, max: 252, maxAt: [359, 1205], md5: 'a4a69e34be87bd4c4cfdad0474c0cf60' },
  { file: 'l-cyst_01_00002.cbf', sum: -132416, sumCounts: 65483, max: 288, maxAt: [359, 1205], md5: '36cbaefa9a2c4fd2e5d3048da9dd3f02' },
  { file: 'l-cyst_01_00003.cbf', sum: -132259, sumCounts: 65640, max: 522, maxAt: [777, 696], md5: '32593d748074dd78e529b5fc9bc2493d' },
  { file: 'l-cyst_01_00004.cbf', sum: -124280, sumCounts: 73619, max: 3621, maxAt: [777, 696], md5: '7df6c3a66d00a5686a7747ebdca4f8fc' },
  { file: 'l-cyst_01_00005.cbf', sum: -128765, sumCounts: 69134, max: 1132, maxAt: [777, 697], md5: 'bfb3339f3418fddf7d67fc7719510a66' },
  { file: 'l-cyst_01_00006.cbf', sum: -130590, sumCounts: 67309, max: 613, maxAt: [73, 1191], md5: '0312a2fe6daa56c4166aa4f56245501f' },
  { file: 'l-cyst_01_00007.cbf', sum: -127802, sumCounts: 70097, max: 900, maxAt: [73, 1190], md5: '6b95cfc868c31059fec655dd456bb45e' },
  { file: 'l-cyst_01_00008.cbf', sum: -125672, sumCounts: 72227, max: 2162, maxAt: [72, 1191], md5: 'abdd92e0a875b73c1fd1153bd1b81786' },
  { file: 'l-cyst_01_00009.cbf', sum: -123036, sumCounts: 74863, max: 3364, maxAt: [72, 1191], md5: '42a9fad55c75176e1651d3f511e6d328' },
  { file: 'l-cyst_01_00010.cbf', sum: -123148, sumCounts: 74751, max: 3297, maxAt: [72, 1191], md5: '17f1eec3ea3d3c2b2b5a8cf1874d9e03' },
];
export const L_CYSTEINE_GAP_PIXELS = 197365;
export const L_CYSTEINE_BAD_PIXELS = 267;

/** hand-checked pixels of l-cysteine frame 1 and 4 from the same decoder: [frame index, x, y, value] */
export const L_CYSTEINE_PIXELS: readonly (readonly [number, number, number, number])[] = [
  [0, 348, 1002, 216],
  [0, 359, 1205, 252],
  [0, 359, 1206, 138],
  [0, 0, 0, 0],
  [3, 777, 696, 3621],
  [3, 778, 696, 187],
  [3, 777, 697, 2779],
];

export interface SmvReference {
  file: string;
  phi: number;
  sum: number;
  /** pixel (x=512, y=512) and (x=900, y=100) */
  px512: number;
  px900x100: number;
  md5: string;
  /** pixels valid under Lunus's settings: 1 ≤ v ≤ 10000, x and y in 40…984, minus the beamstop x 510…556 × y 473…517 */
  lunusValid: number;
}

/** snase (1024×1024 unsigned_short little_endian, max 65534 in every frame). */
export const SNASE: readonly SmvReference[] = [
  { file: 'snc_newhead_00001.img', phi: 0, sum: 915797304, px512: 760, px900x100: 471, md5: 'aa4e46c4e073cb5d308a658451dd50b1', lunusValid: 890366 },
  { file: 'snc_newhead_00002.img', phi: 1, sum: 900331958, px512: 728, px900x100: 457, md5: '251cae50972cc64d964169ec414cf44c', lunusValid: 890382 },
  { file: 'snc_newhead_00003.img', phi: 2, sum: 835325846, px512: 697, px900x100: 435, md5: '5b7cce14e67aa7c1a25fd9ce1bd493ac', lunusValid: 890446 },
  { file: 'snc_newhead_00004.img', phi: 3, sum: 820616847, px512: 672, px900x100: 426, md5: '316530ec326640abd4222e90c4376657', lunusValid: 890468 },
  { file: 'snc_newhead_00005.img', phi: 4, sum: 805283555, px512: 656, px900x100: 404, md5: 'b772512f71c334c0e6fb59f2ac72a996', lunusValid: 890429 },
  { file: 'snc_newhead_00006.img', phi: 5, sum: 797689016, px512: 674, px900x100: 398, md5: '5fd0663b9aaf86e7eb5ec4129614be39', lunusValid: 890492 },
  { file: 'snc_newhead_00007.img', phi: 6, sum: 780361246, px512: 662, px900x100: 405, md5: 'b6011f2836c6fd8f4bc45fca911d146c', lunusValid: 890483 },
  { file: 'snc_newhead_00008.img', phi: 7, sum: 792381009, px512: 662, px900x100: 413, md5: '7fee8070c3dc8a23828d3a403036a911', lunusValid: 890424 },
  { file: 'snc_newhead_00009.img', phi: 8, sum: 789998368, px512: 672, px900x100: 404, md5: '0d53576b89aafde72f6b1593874beedf', lunusValid: 890421 },
  { file: 'snc_newhead_00010.img', phi: 9, sum: 775245708, px512: 676, px900x100: 400, md5: '3821a05c26b00078cbfa7a48092dc5a6', lunusValid: 890514 },
];
