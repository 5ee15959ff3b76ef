/** `unionmount lesson [NAME]`: list the hands-on lessons, or run one in a temporary directory. */
import { Command } from 'commander';
import { UnionmountError } from '../../errors.js';
import type { CliIO } from '../io.js';
import { table } from '../table.js';

export function lessonCommand(io: CliIO, colour = process.stdout.isTTY === true): Command {
  return new Command('lesson')
    .description('hands-on copy-on-write lessons: list them, or run one (it mounts, acts, checks)')
    .argument('[name]', 'the lesson to run')
    .option('--keep', "keep the lesson's layers afterwards, to explore them")
    .action(async (name: string | undefined, flags: { keep?: boolean }) => {
      const { LESSONS, runLesson } = await import('../../lessons/index.js');
      if (name === undefined) {
        const rows = LESSONS.map((lesson) => [lesson.name, lesson.title]);
        io.out(`${table(['LESSON', 'WHAT IT SHOWS'], rows)}\n`);
        io.out('\nRun one with: unionmount lesson NAME\n');
        return;
      }
      const lesson = LESSONS.find((l) => l.name === name);
      if (lesson === undefined) {
        const names = LESSONS.map((l) => l.name).join(', ');
        throw new UnionmountError(`lesson ${name}: no such lesson (lessons: ${names})`, 2);
      }
      if (!(await runLesson(lesson, { out: io.out, colour, keep: flags.keep })))
        throw new UnionmountError(`lesson ${name}: the claim did not hold`, 1);
    });
}
