#!/usr/bin/env node
// Applies patches/fuse-native+2.2.6.patch and rebuilds fuse-native from source, then checks that
// require('fuse-native') loads the patched addon (node-gyp-build prefers build/Release over the
// stock prebuild). Safe to run again. Run by `npm install` (postinstall).
//
// Installed as a dependency, unionmount ships fuse-native patched and built (bundleDependencies)
// and has no dev dependencies: then this only checks that the shipped addon loads, rebuilds it from
// the shipped (patched) sources when it does not, and never fails the install: the binding says
// the same at first use.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkgDir = path.join(root, 'node_modules/fuse-native');
const bin = (name) => path.join(root, 'node_modules/.bin', name);

function fail(line) {
  console.error(`build-binding: ${line}`);
  // A failed dependency install would help nobody: unionmount says the same when it is used.
  process.exit(shipped ? 0 : 1);
}

function warn(line) {
  console.error(`build-binding: ${line}`);
  process.exit(0);
}

/** The patch's first change, as a marker that the sources are the patched ones. */
const isPatched = () =>
  fs
    .readFileSync(path.join(pkgDir, 'fuse-native.c'), 'utf8')
    .includes('fuse_native_capture_context');

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function checkTools() {
  if (!fs.existsSync(pkgDir)) fail('node_modules/fuse-native missing: run npm install first');
  if (!has('g++') && !has('c++')) fail('g++ not found: apt-get install g++');
  if (!has('make')) fail('make not found: apt-get install make');
  if (!has('python3')) fail('python3 not found: apt-get install python3');
  if (!fs.existsSync(bin('patch-package'))) fail('patch-package missing: npm install (dev deps)');
  if (!fs.existsSync('/usr/lib/x86_64-linux-gnu/libfuse.so.2') && !has('fusermount')) {
    console.error('build-binding: warning: libfuse2 not found (apt-get install libfuse2 fuse3)');
  }
}

/** Node headers: Debian's nodejs-dev (or libnode-dev) puts them in /usr/include/node. */
function nodedirArgs() {
  if (fs.existsSync('/usr/include/node/node_api.h')) return ['--nodedir=/usr'];
  const prefix = path.resolve(process.execPath, '../..');
  if (fs.existsSync(path.join(prefix, 'include/node/node_api.h'))) return [`--nodedir=${prefix}`];
  fail('Node headers not found (no /usr/include/node/node_api.h): apt-get install libnode-dev');
}

function nodeGyp() {
  if (fs.existsSync(bin('node-gyp'))) return [bin('node-gyp')];
  // npm exposes its bundled node-gyp to install scripts
  if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp];
  if (has('node-gyp')) return ['node-gyp'];
  fail('node-gyp not found: npm install (dev deps) or npm install -g node-gyp');
}

function run(cmd, args, opts, what) {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  } catch (err) {
    const out = `${err.stdout ?? ''}${err.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    console.error(out);
    fail(`${what} failed (see the output above)`);
  }
}

/** In a fresh process, so a cached stock binding cannot mask the result. */
function probe() {
  const script = `
    const Fuse = require('fuse-native');
    const b = Fuse.binding;
    if (!b || typeof b.fuse_native_get_context !== 'function') process.exit(3);
  `;
  return spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' });
}

function verify() {
  const r = probe();
  if (r.status === 3) fail('require("fuse-native") still loads the stock prebuild, not the patch');
  if (r.status !== 0) fail(`loading fuse-native failed: ${r.stderr.trim().split('\n').at(-1)}`);
}

const shipped = !fs.existsSync(bin('patch-package'));
if (shipped) {
  if (probe().status === 0) {
    console.log('build-binding: the shipped patched fuse-native loads: nothing to build');
    process.exit(0);
  }
  if (!isPatched()) warn('the shipped fuse-native is not patched; reinstall unionmount');
  console.error('build-binding: the shipped fuse-native does not load here: rebuilding it');
}
checkTools();
const [gyp, ...gypArgs] = nodeGyp();
// patch-package recognises an already applied patch, so a second run is a no-op here.
if (!shipped) {
  run(bin('patch-package'), [], { cwd: root }, 'applying patches/fuse-native+2.2.6.patch');
}
run(
  gyp,
  [...gypArgs, 'rebuild', ...nodedirArgs()],
  { cwd: pkgDir },
  'node-gyp rebuild of fuse-native',
);
verify();
console.log('build-binding: patched fuse-native built and loaded');
