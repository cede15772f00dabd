/** Every benchmark section, in the order `npm run bench` runs them (one import each). */
import type { BenchSection } from '../harness.ts';
import { filterSection } from './filter.ts';
import { hklSection } from './hkl.ts';
import { integrateThroughputSection } from './integrate-throughput.ts';
import { mergeSection } from './merge.ts';
import { photonSection } from './photon.ts';
import { pipelineSection } from './pipeline.ts';
import { scalingSection } from './scaling.ts';
import { spotsSection } from './spots.ts';
import { stillsSection } from './stills.ts';
import { stillsMemorySection } from './stills-memory.ts';
import { stillsRunMemorySection } from './stills-run-memory.ts';
import { transferSection } from './transfer.ts';

export const SECTIONS: readonly BenchSection[] = [hklSection, spotsSection, photonSection, filterSection, mergeSection, scalingSection, pipelineSection, transferSection, integrateThroughputSection, stillsSection, stillsMemorySection, stillsRunMemorySection];
