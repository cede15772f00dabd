/** The geometry the NeXus tests write (an Eiger-like 0.075 mm detector at 187 mm, 0.1° ω steps). */
import type { NexusWriteGeometry } from '../../src/io/nexus-write.ts';

export const NEXUS_GEOMETRY: NexusWriteGeometry = {
  wavelength: 0.976254,
  distance_mm: 187.25,
  beamCentre: [20.5, 11.25],
  pixelSize: [0.075, 0.075],
  omegaStart: 12.5,
  omegaIncrement: 0.1,
  exposure: 0.02,
  sensorMaterial: 'Si',
  sensorThickness_mm: 0.45,
  saturation: 40000,
  underload: -1,
};
