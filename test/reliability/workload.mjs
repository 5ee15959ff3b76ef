// Seeded file-system workloads for the reliability tests, run as their own processes against a
// mount or a plain directory. Usage:
//   node workload.mjs crash ROOT SEED            until the mount dies (the daemon is killed)
//   node workload.mjs load ROOT SEED DIR MS|=N   in ROOT/DIR for MS ms, or exactly N ops;
//                                                prints {ops, results} (one errno code per op)
//   node workload.mjs walk ROOT MS               readdir + lstat everything; prints unexpected errors
//   node workload.mjs append FILE TEXT           one append (O_APPEND)
import * as fs from 'node:fs';
import { rng } from '../helpers/random.mjs';

const [mode, root, ...args] = process.argv.slice(2);

const dead = (err) => ['ENOTCONN', 'ECONNABORTED', 'ENXIO'].includes(err?.code);
const p = (rel) => `${root}/${rel}`;

function attempt(op) {
  try {
    op();
    return 'ok';
  } catch (err) {
    if (dead(err)) process.exit(0);
    if (!err.code) throw err;
    return err.code;
  }
}

/** Changes whose every crash state is checkable (see crash.test.ts). */
function crash(seed) {
  const r = rng(seed);
  attempt(() => fs.mkdirSync(p('c')));
  for (let n = 0; ; n++) {
    const k = r(5);
    switch (r(8)) {
      case 0:
        attempt(() => fs.appendFileSync(p(`f${k}`), 'A\n'));
        break;
      case 1:
        if (r(4) === 0) attempt(() => fs.appendFileSync(p('big'), 'tail'));
        break;
      case 2:
        attempt(() => fs.writeFileSync(p(`t${n}`), `new-${n}`));
        attempt(() => fs.renameSync(p(`t${n}`), p(`r${k}`)));
        break;
      case 3:
        attempt(() => fs.writeFileSync(p(`c/${n}`), `c${n}`));
        break;
      case 4:
        attempt(() => fs.mkdirSync(p(`d${n}`)));
        attempt(() => fs.writeFileSync(p(`d${n}/x`), `x${n}`));
        attempt(() => fs.renameSync(p(`d${n}`), p(`e${n}`)));
        break;
      case 5:
        attempt(() => fs.renameSync(p(`dl${k % 3}`), p(`dm${k % 3}`)));
        attempt(() => fs.renameSync(p(`dm${r(3)}`), p(`dl${r(3)}`)));
        break;
      case 6:
        attempt(() => fs.unlinkSync(p(`u${k}`)));
        break;
      default:
        attempt(() => fs.rmSync(p(`e${r(n + 1)}`), { recursive: true }));
    }
  }
}

/** Namespace and data changes in one directory; deterministic for a seed and an op count. */
function load(seed, dir, limit) {
  const r = rng(seed);
  const results = [];
  const name = () => `${dir}/${['a', 'b', 'c', 'd', 'lower'][r(5)]}${r(4)}`;
  const deadline = limit.ms === undefined ? Infinity : Date.now() + limit.ms;
  for (let n = 0; n < (limit.ops ?? Infinity) && Date.now() < deadline; n++) {
    const a = name();
    const b = name();
    const ops = [
      () => fs.writeFileSync(p(a), `w${n}\n`),
      () => fs.appendFileSync(p(a), `a${n}\n`),
      () => fs.renameSync(p(a), p(b)),
      () => fs.unlinkSync(p(a)),
      () => fs.mkdirSync(p(a)),
      () => fs.rmdirSync(p(a)),
      () => fs.writeFileSync(p(`${a}/in`), `i${n}`),
      () => fs.truncateSync(p(a), n % 7),
      () => fs.chmodSync(p(a), 0o600 + (n % 64)),
      () => fs.symlinkSync(`t${n}`, p(a)),
    ];
    results.push(attempt(ops[r(ops.length)]));
  }
  process.stdout.write(JSON.stringify({ ops: results.length, results }));
}

function walk(ms) {
  const deadline = Date.now() + ms;
  const unexpected = [];
  let visits = 0;
  const visit = (path) => {
    for (const entry of fs.readdirSync(path)) {
      const child = `${path}/${entry}`;
      visits++;
      if (fs.lstatSync(child).isDirectory()) visit(child);
    }
  };
  while (Date.now() < deadline) {
    try {
      visit(root);
    } catch (err) {
      // A name renamed or removed between readdir and lstat is a plain race.
      if (!['ENOENT', 'ENOTDIR'].includes(err.code)) unexpected.push(String(err));
    }
  }
  process.stdout.write(JSON.stringify({ visits, unexpected }));
}

if (mode === 'crash') crash(Number(args[0]));
else if (mode === 'load') {
  const [seed, dir, limit] = args;
  load(
    Number(seed),
    dir,
    limit.startsWith('=') ? { ops: Number(limit.slice(1)) } : { ms: Number(limit) },
  );
} else if (mode === 'walk') walk(Number(args[0]));
else if (mode === 'append') fs.appendFileSync(root, args[0]);
