// force timezone to UTC to allow tests to work regardless of local timezone
// generally used by snapshots, but can affect specific tests
process.env.TZ = 'UTC';

const baseConfig = require('./.config/jest.config');

// The scaffold only transforms .js/.jsx/.ts/.tsx. d3-color and d3-interpolate (dependencies of
// @grafana/data) ship their ES modules as .mjs files, which jest must transform as well.
const swcTransform = baseConfig.transform['^.+\\.(t|j)sx?$'];

module.exports = {
  // Jest configuration provided by Grafana scaffolding
  ...baseConfig,
  transform: {
    ...baseConfig.transform,
    '^.+\\.mjs$': swcTransform,
  },
  // Editor tests render @grafana/ui components and type into them; 5 s is tight on a 2-core CI.
  testTimeout: 30000,
};
