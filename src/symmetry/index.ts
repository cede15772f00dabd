/** Space-group library: all 230 groups, Hall symbols, Laue groups, reciprocal ASU. See docs/symmetry.md. */
export type { IntMat3, SymOp, LaueClass, CrystalSystem, SpaceGroup } from './types.ts';
export { spaceGroup, spaceGroupSettings, classifyPointGroup } from './group.ts';
export { parseHall, closeGroup, type Op12, type ParsedHall } from './hall.ts';
export type { SettingEntry } from './settings.ts';
export {
  reciprocalOps,
  asuConvention,
  asuMapper,
  toAsu,
  inAsu,
  equivalents,
  multiplicity,
  isSystematicallyAbsent,
  phaseShift,
} from './reciprocal.ts';
