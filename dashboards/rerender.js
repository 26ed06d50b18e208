// Renders the site again, on new data, with the app the last full build bundled (.svelte-kit/output). Bundling
// is most of a build and depends on the pages only, so the build runs this instead while they are unchanged
// (orchestration/dashboards/site.py). These are the steps that follow bundling, as the pinned packages run them:
// SvelteKit's (@sveltejs/kit 2.8.4, src/exports/vite/index.js: analyse, prerender, the adapter) and Evidence's
// (@evidence-dev/evidence 40.1.8, cli.js buildHelper: each data file renamed by its hash). Run in
// .evidence/template after `evidence sources`, as `vite build` runs.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';

const kit = new URL('../', import.meta.resolve('@sveltejs/kit'));
const kitModule = (file) => import(new URL(file, kit).href);
const [
	{ load_config },
	{ default: create_manifest_data },
	{ get_env },
	{ default: analyse },
	{ default: prerender },
	{ adapt },
	{ logger }
] = await Promise.all(
	[
		'core/config/index.js',
		'core/sync/create_manifest_data/index.js',
		'exports/vite/utils.js',
		'core/postbuild/analyse.js',
		'core/postbuild/prerender.js',
		'core/adapt/index.js',
		'core/utils.js'
	].map(kitModule)
);

const DATA = 'static/data';
// what `evidence build:strict` sets for `vite build`
Object.assign(process.env, {
	EVIDENCE_STRICT_MODE: 'true',
	EVIDENCE_IS_BUILDING: 'true',
	EVIDENCE_DATA_DIR: `./${DATA}`,
	EVIDENCE_DATA_URL_PREFIX: DATA
});

const config = await load_config();
const out = `${config.kit.outDir}/output`;
const manifestPath = `${out}/server/manifest-full.js`;
const { public: publicEnv, private: privateEnv } = get_env(config.kit.env, 'production');
const env = { ...privateEnv, ...publicEnv };

// nothing of the last render left: its data in the client, its pages, its query results
fs.rmSync(`${out}/client/data`, { recursive: true, force: true });
fs.cpSync(DATA, `${out}/client/data`, { recursive: true });
fs.rmSync(`${out}/prerendered`, { recursive: true, force: true });
fs.rmSync('.evidence-queries/cache', { recursive: true, force: true });

const manifestData = create_manifest_data({ config });
const serverManifest = JSON.parse(fs.readFileSync(`${out}/server/.vite/manifest.json`, 'utf-8'));
const metadata = await analyse({
	manifest_path: manifestPath,
	manifest_data: manifestData,
	server_manifest: serverManifest,
	tracked_features: {},
	env
});
const { prerendered, prerender_map } = await prerender({
	out,
	manifest_path: manifestPath,
	metadata,
	verbose: false,
	env
});
const { base } = config.kit.paths;
const buildData = {
	manifest_data: manifestData,
	app_path: `${base.slice(1)}${base ? '/' : ''}${config.kit.appDir}`
};
await adapt(config, buildData, metadata, prerendered, prerender_map, logger({ verbose: false }), {
	mode: 'production'
});

// Evidence's own last step: each data file under a directory named by its hash, the manifest saying so
const dataDir = path.join(process.env.EVIDENCE_BUILD_DIR ?? 'build', 'data');
const manifestFile = path.join(dataDir, 'manifest.json');
const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf-8'));
for (const files of Object.values(manifest.renderedFiles)) {
	files.forEach((file, index) => {
		const diskParts = file.split('/').slice(-3).join('/');
		const filePath = path.posix.join(dataDir, diskParts);
		if (!fs.existsSync(filePath)) return;
		const hash = createHash('md5').update(fs.readFileSync(filePath)).digest('hex');
		const hashed = path.posix.join(path.dirname(diskParts), hash, path.basename(diskParts));
		fs.mkdirSync(path.dirname(path.join(dataDir, hashed)), { recursive: true });
		fs.renameSync(filePath, path.join(dataDir, hashed));
		files[index] = file.replace(diskParts, hashed);
	});
}
fs.writeFileSync(manifestFile, JSON.stringify(manifest));
