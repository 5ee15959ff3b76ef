/**
 * `unionmount doctor [--lower a:b] [--upper c] [--work w] [MOUNTPOINT]`: checks what a mount needs
 * and says each problem in one sentence with its fix. Changes nothing but a probe directory in
 * the upper (its filesystem is what matters), removed at once. Exit 1 when something a mount needs is
 * missing; warnings (what only rootless mounts or the kernel oracle need) keep exit 0.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { release } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { checkOverlaps, splitLowers } from '../../config.js';
import { UnionmountError } from '../../errors.js';
import { isStale, mountAt } from '../../fuse/mounts.js';
import * as native from '../../layers/native.js';
import type { CliIO } from '../io.js';

/** One check's verdict: `fail` stops a mount, `warn` only rootless mounts or the kernel oracle. */
export interface Finding {
  level: 'ok' | 'warn' | 'fail';
  /** One sentence: what was found and, unless ok, the fix. */
  text: string;
}

interface DoctorFlags {
  lower?: string;
  upper?: string;
  work?: string;
}

const ok = (text: string): Finding => ({ level: 'ok', text });
const warn = (text: string): Finding => ({ level: 'warn', text });
const fail = (text: string): Finding => ({ level: 'fail', text });
const isRoot = (): boolean => process.getuid?.() === 0;

/** The `doctor` command. */
export function doctorCommand(io: CliIO): Command {
  return new Command('doctor')
    .description('check what a mount needs (FUSE, kernel, layers) and say how to fix each problem')
    .argument('[mountpoint]', 'where you mean to mount (checked for a stale mount)')
    .option('--lower <dirs>', 'lower layers, top first, separated by ":"')
    .option('--upper <dir>', 'the writable layer (checked for xattr support)')
    .option('--work <dir>', "scratch directory on the upper's filesystem")
    .addHelpText(
      'after',
      '\nExample:\n  unionmount doctor --lower image/l2:image/l1 --upper c /mnt\n',
    )
    .action(async (mountpoint: string | undefined, flags: DoctorFlags) => {
      const findings = [...systemFindings(), ...layerFindings(flags)];
      if (mountpoint !== undefined) findings.push(await mountpointFinding(mountpoint));
      for (const { level, text } of findings) io.out(`${level.padEnd(5)} ${text}\n`);
      const failed = findings.filter((f) => f.level === 'fail').length;
      if (failed > 0) throw new UnionmountError(`doctor: ${failed} problem(s) would stop a mount`);
    });
}

/** What every mount needs from the machine: FUSE, libfuse, fusermount, kernel, namespaces. */
export function systemFindings(): Finding[] {
  return [devFuse(), libfuse(), fusermount(), kernel(), overlayModule(), userNamespaces()];
}

function devFuse(): Finding {
  if (!existsSync('/dev/fuse'))
    return fail(
      '/dev/fuse is missing: load the module (modprobe fuse), or in a container pass --device /dev/fuse.',
    );
  const mode = statSync('/dev/fuse').mode & 0o777;
  if ((mode & 0o006) === 0o006) return ok(`/dev/fuse: mode 0${mode.toString(8)}.`);
  const text = `/dev/fuse is mode 0${mode.toString(8)}: only root can mount; for other users run chmod 0666 /dev/fuse (the stock Debian mode).`;
  return isRoot() ? warn(text) : fail(text);
}

function libfuse(): Finding {
  const cache = run('ldconfig', ['-p']) ?? '';
  return /libfuse\.so\.2 /.test(cache)
    ? ok('libfuse2: installed.')
    : fail('libfuse.so.2 is missing (the FUSE binding links to it): apt-get install libfuse2.');
}

function fusermount(): Finding {
  const path = run('sh', ['-c', 'command -v fusermount'])?.trim();
  if (!path)
    return fail(
      'fusermount is missing (it unmounts, and mounts for non-root users): apt-get install fuse3.',
    );
  const setuid = (statSync(path).mode & 0o4000) !== 0;
  return setuid
    ? ok(`fusermount: ${path}, setuid root.`)
    : warn(
        `fusermount at ${path} is not setuid root: non-root users cannot mount; reinstall fuse3.`,
      );
}

/** Whiteouts by unprivileged mknod of 0/0 need 5.8; kernel overlayfs in a user namespace 5.11. */
function kernel(): Finding {
  const [major = 0, minor = 0] = release().split('.').map(Number);
  const version = major * 1000 + minor;
  if (version >= 5011) return ok(`kernel ${release()}.`);
  return warn(
    `kernel ${release()} is older than 5.11: rootless whiteouts (5.8) and kernel overlayfs in a user namespace (5.11) are unavailable; upgrade the kernel for them.`,
  );
}

function overlayModule(): Finding {
  return /\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'))
    ? ok('kernel overlayfs: available (the oracle of compareWithKernel).')
    : warn('kernel overlayfs is not loaded, so compareWithKernel cannot run: modprobe overlay.');
}

function userNamespaces(): Finding {
  const max = Number(readText('/proc/sys/user/max_user_namespaces') ?? '0');
  const clone = readText('/proc/sys/kernel/unprivileged_userns_clone');
  if (max > 0 && clone?.trim() !== '0') return ok('user namespaces: enabled.');
  return warn(
    'user namespaces are disabled, so the kernel cannot mount a rootless upper (unshare -Urm): sysctl -w user.max_user_namespaces=15000 kernel.unprivileged_userns_clone=1.',
  );
}

/** The given layers: present, separate, work beside the upper, xattrs on the upper's filesystem. */
export function layerFindings(flags: DoctorFlags): Finding[] {
  const findings: Finding[] = [];
  const layers: [string, string][] = [];
  for (const [role, path] of roles(flags)) {
    if (!existsSync(path) || !statSync(path).isDirectory()) {
      findings.push(fail(`${role} ${path}: no such directory; create it or fix the path.`));
    } else layers.push([`${role} ${path}`, realpathSync(path)]);
  }
  try {
    checkOverlaps(layers);
  } catch (err) {
    findings.push(fail(`${(err as Error).message}; layers must be separate directories.`));
  }
  if (flags.upper !== undefined && existsSync(flags.upper)) {
    if (flags.work !== undefined && existsSync(flags.work))
      findings.push(sameFilesystem(flags.upper, flags.work));
    findings.push(...xattrSupport(flags.upper));
  }
  return findings;
}

function roles(flags: DoctorFlags): [string, string][] {
  const lowers = flags.lower === undefined ? [] : splitLowers(flags.lower);
  return [
    ...lowers.map((l): [string, string] => ['lower layer', l]),
    ...(flags.upper === undefined ? [] : [['upper layer', flags.upper] as [string, string]]),
    ...(flags.work === undefined ? [] : [['work directory', flags.work] as [string, string]]),
  ];
}

function sameFilesystem(upper: string, work: string): Finding {
  return statSync(upper).dev === statSync(work).dev
    ? ok(`work directory ${work}: on the upper layer's filesystem.`)
    : fail(
        `work directory ${work}: not on the upper layer's filesystem; put it beside the upper (default: <upper>.work).`,
      );
}

/** Sets and removes a trusted.* and a user.* xattr on a probe file on the upper's filesystem. */
function xattrSupport(dir: string): Finding[] {
  const probeDir = mkdtempSync(join(dir, '.unionmount-doctor-'));
  const probe = Buffer.from(join(probeDir, 'probe'));
  writeFileSync(probe, '');
  try {
    return [
      xattrFinding(
        probe,
        'trusted',
        dir,
        'root mounts keep whiteouts and opaque markers there; mount as root on a filesystem with xattrs (ext4, xfs, btrfs)',
      ),
      xattrFinding(
        probe,
        'user',
        dir,
        'rootless mounts keep their markers there; use a filesystem with user xattrs (ext4, xfs, btrfs, tmpfs on Linux 6.6+)',
      ),
    ];
  } finally {
    rmSync(probeDir, { recursive: true, force: true });
  }
}

function xattrFinding(probe: Buffer, namespace: string, dir: string, why: string): Finding {
  try {
    native.setxattr(probe, `${namespace}.unionmount.doctor`, Buffer.from('y'));
    native.removexattr(probe, `${namespace}.unionmount.doctor`);
    return ok(`${namespace}.* xattrs: supported on the filesystem of ${dir}.`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const level = namespace === 'trusted' && isRoot() ? fail : warn;
    return level(`${namespace}.* xattrs fail on the filesystem of ${dir} (${code}): ${why}.`);
  }
}

async function mountpointFinding(mountpoint: string): Promise<Finding> {
  const absolute = resolve(mountpoint);
  if (await isStale(absolute))
    return fail(
      `mountpoint ${mountpoint}: stale mount left by a daemon that died; run unionmount umount ${mountpoint} (or mount with --force).`,
    );
  if (mountAt(absolute) !== undefined)
    return fail(
      `mountpoint ${mountpoint}: already mounted; unmount it first or choose another directory.`,
    );
  if (!existsSync(absolute))
    return fail(`mountpoint ${mountpoint}: no such directory; mkdir -p ${mountpoint}.`);
  return ok(`mountpoint ${mountpoint}: free.`);
}

function run(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

function readText(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}
