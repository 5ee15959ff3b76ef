/**
 * Lesson 5: building an image is stacking layers. A tiny recipe (FROM, COPY, RUN, and ENV/CMD that
 * change only metadata) builds one layer directory per file-changing step, by mounting the layers
 * so far under a fresh upper; a step whose inputs did not change reuses its cached layer.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { bytes, layerBytes } from './picture.js';
import type { Kit, Lesson } from './kit.js';

interface Step {
  op: 'FROM' | 'COPY' | 'RUN' | 'ENV' | 'CMD';
  arg: string;
}

const RECIPE: Step[] = [
  { op: 'FROM', arg: 'base' },
  { op: 'COPY', arg: 'app.js app/app.js' },
  { op: 'RUN', arg: 'mkdir -p app/build && echo compiled > app/build/out.txt && rm etc/motd' },
  { op: 'ENV', arg: 'PORT=8080' },
  { op: 'CMD', arg: 'node app/app.js' },
];

interface Built {
  /** Layer directories, top first. */
  layers: string[];
  history: { layer: string; size: number; step: string; cached: boolean }[];
  built: number;
}

export const building: Lesson = {
  name: 'building',
  title: 'Building an image is stacking layers',
  claim:
    'each file-changing step of a recipe adds one layer on top of the ones before; metadata ' +
    'steps add none; an unchanged step reuses its cached layer',
  async run(kit) {
    kit.step('A base layer, a build context and a recipe');
    kit.layer('base', { 'etc/motd': 'base image\n', 'bin/sh': '#!fake shell\n' });
    kit.layer('context', { 'app.js': 'console.log("v1")\n' });
    for (const { op, arg } of RECIPE) kit.print(`  ${op} ${arg}`);

    kit.step('Build it');
    const first = await build(kit);
    history(kit, first);

    kit.step('Build it again, unchanged: every step comes from the cache');
    const second = await build(kit);

    kit.step('Change app.js and build: the steps from COPY on are built again');
    writeFileSync(kit.path('context/app.js'), 'console.log("v2")\n');
    const third = await build(kit);
    history(kit, third);

    kit.step('Run the image: mount its layers under a container layer');
    const container = await kit.mount('mnt', third.layers, kit.path('container'));
    await kit.sh('cat mnt/app/app.js mnt/app/build/out.txt');
    await kit.sh('ls -A mnt/etc mnt/app   # etc/motd was removed by the RUN step');
    const app = readFileSync(kit.path('mnt/app/app.js'), 'utf8');
    const motd = existsSync(kit.path('mnt/etc/motd'));
    await container.unmount();

    kit.step('Check');
    kit.check(
      'the first build made one layer per COPY and RUN, none for ENV and CMD',
      first.built === 2 && first.layers.length === 3,
    );
    kit.check(
      'the unchanged build reused every layer',
      second.built === 0 && second.layers.join() === first.layers.join(),
    );
    kit.check(
      'changing app.js rebuilt COPY and RUN on the cached base',
      third.built === 2 &&
        third.layers.at(-1) === first.layers.at(-1) &&
        third.layers[0] !== first.layers[0],
    );
    kit.check(
      'the image shows the new app, the build output and no motd',
      app.includes('v2') && !motd,
    );
  },
};

async function build(kit: Kit): Promise<Built> {
  const result: Built = { layers: [], history: [], built: 0 };
  let key = '';
  for (const [i, step] of RECIPE.entries()) {
    const text = `${step.op} ${step.arg}`;
    kit.print(`Step ${i + 1}/${RECIPE.length} : ${text}`);
    key = hash(
      key,
      text,
      step.op === 'COPY' ? readFileSync(kit.path('context', step.arg.split(' ')[0]!)) : '',
    );
    if (step.op === 'ENV' || step.op === 'CMD') {
      kit.print(' ---> metadata only, no layer');
      result.history.push({ layer: '', size: 0, step: text, cached: true });
      continue;
    }
    const layer = step.op === 'FROM' ? kit.path(step.arg) : kit.path('layers', key.slice(0, 12));
    const cached = existsSync(layer);
    if (!cached) {
      await runStep(kit, step, result.layers, layer);
      result.built++;
    }
    kit.print(` ---> ${cached ? 'using cache' : 'built'} ${layer}`);
    result.layers.unshift(layer);
    result.history.push({ layer, size: await layerBytes(layer), step: text, cached });
  }
  return result;
}

/** Mounts the layers so far under a new upper, makes the step's change, keeps the upper. */
async function runStep(kit: Kit, step: Step, below: string[], layer: string): Promise<void> {
  const building = `${layer}.building`;
  const mount = await kit.mount('build', below, building);
  if (step.op === 'COPY') {
    const [from, to] = step.arg.split(' ') as [string, string];
    await kit.sh(`mkdir -p "$(dirname build/${to})" && cp context/${from} build/${to}`);
  } else {
    await kit.sh(`(cd build && ${step.arg})`);
  }
  await mount.unmount();
  rmSync(`${building}.work`, { recursive: true, force: true });
  renameSync(building, layer);
}

/** `docker history`: the newest step first. */
function history(kit: Kit, built: Built): void {
  kit.print('History of the image:');
  kit.table(
    ['LAYER', 'SIZE', 'CREATED BY'],
    [...built.history]
      .reverse()
      .map((h) => [h.layer === '' ? '<none>' : h.layer, bytes(h.size), h.step]),
  );
}

const hash = (...parts: (string | Buffer)[]): string => {
  const h = createHash('sha256');
  for (const part of parts) h.update(part).update('\0');
  return h.digest('hex');
};
