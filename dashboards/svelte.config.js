// Merged by Evidence into its SvelteKit config. Prerendered: the fixed pages (the estate, the lists, each
// templated page once) and the task pages listed in prerender.json (the build writes it: the tasks failing
// most). Not crawled from their links, so a build costs about the same for 10 tables or 10,000. Every other
// task's or table's page renders in the browser from the fallback page (its queries run there, in
// DuckDB-Wasm on the site's Parquet files); the servers answer with it any page address that is no file.
import fs from 'fs';
import adapter from '@sveltejs/adapter-static';

const listed = new URL('./prerender.json', import.meta.url);
const pages = fs.existsSync(listed) ? JSON.parse(fs.readFileSync(listed, 'utf-8')) : [];

export default {
	kit: {
		adapter: adapter({
			pages: process.env.EVIDENCE_BUILD_DIR ?? './build',
			strict: false,
			fallback: '200.html'
		}),
		prerender: { crawl: false, entries: ['*', '/tasks/none/', '/tables/none/', ...pages] }
	}
};
