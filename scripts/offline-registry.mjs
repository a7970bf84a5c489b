#!/usr/bin/env node
// A package registry on 127.0.0.1 that serves only the tarballs of one folder (check-package.sh:
// the production dependencies packed from this checkout), so an install on a machine without
// network resolves and hoists exactly as npm does, several versions of one name included.
//   node scripts/offline-registry.mjs DEPS_DIR   prints the port once listening; stops on SIGTERM
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';

const dir = path.resolve(process.argv[2] ?? '.');
/** name → { versions: { version: manifest }, latest } */
const packuments = new Map();
const files = new Map();

for (const file of readdirSync(dir).filter((f) => f.endsWith('.tgz'))) {
  const full = path.join(dir, file);
  const tar = spawnSync('tar', ['-xzOf', full, 'package/package.json'], { encoding: 'utf8' });
  if (tar.status !== 0) throw new Error(`offline-registry: ${file} has no package/package.json`);
  const manifest = JSON.parse(tar.stdout);
  const bytes = readFileSync(full);
  files.set(file, bytes);
  const entry = packuments.get(manifest.name) ?? { versions: {}, latest: manifest.version };
  entry.versions[manifest.version] = {
    ...manifest,
    _id: `${manifest.name}@${manifest.version}`,
    dist: {
      tarball: `/-/${file}`,
      shasum: createHash('sha1').update(bytes).digest('hex'),
      integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
    },
  };
  packuments.set(manifest.name, entry);
}

const server = createServer((req, res) => {
  const url = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
  const { port } = server.address();
  if (url.startsWith('/-/') && files.has(url.slice(3))) {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(files.get(url.slice(3)));
    return;
  }
  const entry = packuments.get(url.slice(1));
  if (!entry) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":"not found"}');
    return;
  }
  const versions = Object.fromEntries(
    Object.entries(entry.versions).map(([v, m]) => [v, { ...m, dist: { ...m.dist, tarball: `http://127.0.0.1:${port}${m.dist.tarball}` } }]),
  );
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ name: url.slice(1), 'dist-tags': { latest: entry.latest }, versions }));
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
