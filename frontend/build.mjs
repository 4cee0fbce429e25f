// Builds the third-party browser code that logstream serves itself (no CDN): see package.json.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

const vendor = '../query_api/dashboard_assets/vendor';
const swagger = '../logstream/swagger_ui';
mkdirSync(vendor, { recursive: true });
mkdirSync(swagger, { recursive: true });

await build({
  entryPoints: ['echarts-entry.mjs'], bundle: true, minify: true, format: 'iife', target: 'es2019',
  legalComments: 'none', outfile: `${vendor}/echarts.min.js`,
});
const copies = [
  ['node_modules/echarts/LICENSE', `${vendor}/echarts.LICENSE.txt`],
  ['node_modules/echarts/NOTICE', `${vendor}/echarts.NOTICE.txt`],
  ['node_modules/zrender/LICENSE', `${vendor}/zrender.LICENSE.txt`],
  ['node_modules/tslib/LICENSE.txt', `${vendor}/tslib.LICENSE.txt`],
  ['node_modules/swagger-ui-dist/swagger-ui-bundle.js', `${swagger}/swagger-ui-bundle.js`],
  ['node_modules/swagger-ui-dist/swagger-ui.css', `${swagger}/swagger-ui.css`],
  ['node_modules/swagger-ui-dist/favicon-32x32.png', `${swagger}/favicon-32x32.png`],
  ['node_modules/swagger-ui-dist/LICENSE', `${swagger}/LICENSE.txt`],
  ['node_modules/swagger-ui-dist/NOTICE', `${swagger}/NOTICE.txt`],
  ['node_modules/swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt', `${swagger}/swagger-ui-bundle.js.LICENSE.txt`],
];
for (const [from, to] of copies) copyFileSync(from, to);
