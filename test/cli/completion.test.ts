/** The bash completion script offers the program's own commands and options. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

/** What bash completes for the words typed so far (the last one being completed). */
function complete(...words: string[]): string[] {
  const script = `eval "$(${process.execPath} ${CLI} completion bash)"
COMP_WORDS=(unionmount ${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length}
_unionmount; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return spawnSync('bash', ['-c', script], { encoding: 'utf8' }).stdout.trim().split('\n');
}

describe('bash completion', () => {
  it('completes commands, mount options and per-command options', () => {
    expect(complete('um')).toEqual(['umount']);
    expect(complete('--low')).toEqual(['--lower']);
    expect(complete('diff', '--j')).toEqual(['--json']);
    expect(complete('--lower', '/tm')).toEqual(['/tmp']);
  });

  it('refuses shells it cannot serve', () => {
    const result = spawnSync(process.execPath, [CLI, 'completion', 'fish'], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/completion fish: only bash is supported/);
  });
});
