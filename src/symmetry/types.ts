/** Shared types of the space-group library (see docs/symmetry.md). */

/** Integer 3×3 matrix, row-major. */
export type IntMat3 = readonly [number, number, number, number, number, number, number, number, number];

/**
 * A symmetry operation x' = R·x + t on fractional coordinates (column vectors).
 * t lies in [0, 1) and is a multiple of 1/12.
 */
export interface SymOp {
  R: IntMat3;
  t: readonly [number, number, number];
}

export type LaueClass = '-1' | '2/m' | 'mmm' | '4/m' | '4/mmm' | '-3' | '-3m' | '6/m' | '6/mmm' | 'm-3' | 'm-3m';

export type CrystalSystem = 'triclinic' | 'monoclinic' | 'orthorhombic' | 'tetragonal' | 'trigonal' | 'hexagonal' | 'cubic';

export interface SpaceGroup {
  /** ITA number 1..230; 0 when the setting could not be matched to a tabulated one */
  number: number;
  /** Hermann–Mauguin symbol of the matching tabulated setting ('' when unknown) */
  hm: string;
  /** origin choice '1'/'2', rhombohedral axes 'H'/'R', or '' */
  qualifier: string;
  /** Hall symbol, cctbx/DIALS style: a leading space unless it starts with '-' */
  hall: string;
  /** all operations including centring translations, identity first */
  ops: readonly SymOp[];
  /** ops.length: the multiplicity of the general position */
  order: number;
  /** geometric class (point-group type), e.g. '2/m', '-42m', 'm-3m' */
  pointGroup: string;
  laueClass: LaueClass;
  crystalSystem: CrystalSystem;
  centrosymmetric: boolean;
}
