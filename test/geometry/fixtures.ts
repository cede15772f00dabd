/** Shared fixtures for the geometry tests. */

/** A minimal valid ExperimentList (one rotation experiment), as plain JSON to be edited by tests. */
export function minimalExpt(): Record<string, unknown> {
  return {
    __id__: 'ExperimentList',
    experiment: [{ __id__: 'Experiment', identifier: 'x', beam: 0, detector: 0, goniometer: 0, scan: 0, crystal: 0 }],
    beam: [{ direction: [0, 0, 1], wavelength: 1.0 }],
    detector: [
      {
        panels: [
          {
            name: 'P',
            type: 'SENSOR_PAD',
            fast_axis: [1, 0, 0],
            slow_axis: [0, -1, 0],
            origin: [-50, 50, -200],
            image_size: [1000, 1000],
            pixel_size: [0.1, 0.1],
            trusted_range: [-1, 1e6],
          },
        ],
      },
    ],
    goniometer: [{ rotation_axis: [1, 0, 0] }],
    scan: [{ image_range: [1, 10], oscillation: [0, 1] }],
    crystal: [{ real_space_a: [10, 0, 0], real_space_b: [0, 20, 0], real_space_c: [0, 0, 30], space_group_hall_symbol: ' P 1' }],
  };
}
