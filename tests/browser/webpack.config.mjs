/**
 * Builds the browser-test harness (harness.tsx and index.html) into tests/browser/dist/.
 *
 * Unlike the plugin build (.config/webpack), which leaves React and @grafana/* to Grafana, this
 * bundle holds everything the page needs: there is no Grafana around it. TypeScript is checked on
 * the side (tsconfig.json here), so a type error in the harness fails the build.
 */
import CopyWebpackPlugin from 'copy-webpack-plugin';
import ForkTsCheckerWebpackPlugin from 'fork-ts-checker-webpack-plugin';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

export default {
  // Production React and tree shaking, without the minutes terser would take over @grafana/ui.
  mode: 'production',
  context: here,
  entry: { harness: './harness.tsx' },
  devtool: false,
  target: 'web',
  output: {
    path: path.join(here, 'dist'),
    filename: '[name].js',
    chunkFilename: '[name].js',
    publicPath: '/',
    clean: true,
  },
  optimization: {
    minimize: false,
    // A single file: nothing is lazy-loaded on demand during a test.
    splitChunks: false,
  },
  performance: { hints: false },
  stats: 'errors-warnings',
  module: {
    rules: [
      {
        test: /\.[tj]sx?$/,
        exclude: /node_modules/,
        use: {
          loader: 'swc-loader',
          options: {
            jsc: {
              target: 'es2020',
              parser: { syntax: 'typescript', tsx: true },
              transform: { react: { runtime: 'classic' } },
            },
          },
        },
      },
      // Some dependencies ship ES modules whose imports omit extensions.
      { test: /\.m?js$/, resolve: { fullySpecified: false } },
      { test: /\.css$/, use: ['style-loader', 'css-loader'] },
      { test: /\.(png|jpe?g|gif|svg|woff2?|eot|ttf|otf)$/, type: 'asset/resource' },
    ],
  },
  resolve: {
    extensions: ['.js', '.jsx', '.ts', '.tsx'],
    modules: [path.join(root, 'src'), path.join(root, 'node_modules'), 'node_modules'],
  },
  plugins: [
    new CopyWebpackPlugin({ patterns: [{ from: path.join(here, 'index.html'), to: 'index.html' }] }),
    new ForkTsCheckerWebpackPlugin({
      async: false,
      typescript: { configFile: path.join(here, 'tsconfig.json') },
    }),
  ],
};
