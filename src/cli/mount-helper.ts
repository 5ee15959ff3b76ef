#!/usr/bin/env node
/**
 * mount(8) helper: `mount.fuse.unionmount SOURCE MOUNTPOINT -o lowerdir=a:b,upperdir=c,workdir=w`.
 * mount(8) runs it for `mount -t fuse.unionmount` and for fstab lines of that type. It returns once
 * the mount is ready and leaves the daemon running in the background, as mount helpers do.
 */
import { UnionmountError } from '../errors.js';
import { isMain } from './is-main.js';
import { startDaemon } from '../spawn.js';

/** Options mount(8) passes along that mean nothing to a FUSE daemon. */
const GENERIC = new Set([
  'rw',
  'defaults',
  'auto',
  'noauto',
  'user',
  'nouser',
  'users',
  'owner',
  '_netdev',
  'nofail',
  'suid',
  'nosuid',
  'dev',
  'nodev',
  'exec',
  'noexec',
  'atime',
  'noatime',
  'relatime',
  'x-systemd.automount',
]);

/** Translates `-o` options into the CLI's flags. */
export function helperArgs(options: string, mountpoint: string): string[] {
  const args: string[] = [];
  for (const option of options.split(',').filter(Boolean)) {
    const [key, value] = splitOption(option);
    switch (key) {
      case 'lowerdir':
        args.push('--lower', needs(key, value));
        break;
      case 'upperdir':
        args.push('--upper', needs(key, value));
        break;
      case 'workdir':
        args.push('--work', needs(key, value));
        break;
      case 'ro':
        break; // no upperdir means read-only; with one, ro is refused below
      case 'allow_other':
        args.push('--allow-other');
        break;
      case 'ephemeral':
        args.push('--ephemeral');
        break;
      case 'redirect_dir':
        args.push('--redirect-dir', needs(key, value));
        break;
      case 'userxattr':
        args.push('--userxattr');
        break;
      case 'volatile':
        args.push('--volatile');
        break;
      case 'nocache':
        args.push('--no-cache');
        break;
      case 'nopassthrough':
        args.push('--no-passthrough');
        break;
      default:
        if (!GENERIC.has(key) && !key.startsWith('x-')) {
          throw new UnionmountError(`option ${option}: unknown mount option`, 2);
        }
    }
  }
  if (options.split(',').includes('ro') && args.includes('--upper'))
    throw new UnionmountError('option ro: a read-only mount takes no upperdir', 2);
  return [...args, mountpoint];
}

function splitOption(option: string): [string, string | undefined] {
  const eq = option.indexOf('=');
  return eq < 0 ? [option, undefined] : [option.slice(0, eq), option.slice(eq + 1)];
}

function needs(key: string, value: string | undefined): string {
  if (!value) throw new UnionmountError(`option ${key}: needs a value (${key}=DIR)`, 2);
  return value;
}

/** argv: SOURCE MOUNTPOINT [-o OPTIONS] [-n] [-v] ... */
export async function main(argv: string[]): Promise<number> {
  try {
    const positional: string[] = [];
    let options = '';
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!;
      if (arg === '-o') options += `,${argv[++i] ?? ''}`;
      else if (arg.startsWith('-o')) options += `,${arg.slice(2)}`;
      else if (!arg.startsWith('-')) positional.push(arg);
    }
    const mountpoint = positional[1];
    if (mountpoint === undefined)
      throw new UnionmountError(
        'usage: mount.fuse.unionmount SOURCE MOUNTPOINT -o lowerdir=...',
        2,
      );
    const daemon = await startDaemon(helperArgs(options, mountpoint), {
      detached: true,
    });
    daemon.child.unref();
    return 0;
  } catch (err) {
    const exitCode = err instanceof UnionmountError ? err.exitCode : 1;
    process.stderr.write(`mount.fuse.unionmount: ${(err as Error).message}\n`);
    return exitCode;
  }
}

if (isMain(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
