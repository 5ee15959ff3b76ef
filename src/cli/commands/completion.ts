/**
 * `unionmount completion bash`: a bash completion script made from the program itself, so every
 * command and option is offered as it is defined (nothing to keep in sync by hand).
 */
import { Command } from 'commander';
import { UnionmountError } from '../../errors.js';
import type { CliIO } from '../io.js';

const flagsOf = (command: Command): string[] =>
  [...command.options.flatMap((o) => [o.short, o.long]), '--help'].filter(
    (flag): flag is string => flag !== undefined,
  );

/** One `case` arm per command: its options, directories for its arguments. */
export function bashCompletion(program: Command): string {
  const commands = program.commands;
  const arms = commands.map(
    (c) => `    ${[c.name(), ...c.aliases()].join('|')}) opts="${flagsOf(c).join(' ')}" ;;`,
  );
  const mount = commands.find((c) => c.name() === 'mount');
  const first = [...commands.map((c) => c.name()), ...(mount ? flagsOf(mount) : []), '--version'];
  return `# bash completion for unionmount: eval "$(unionmount completion bash)"
_unionmount() {
  local cur=\${COMP_WORDS[COMP_CWORD]} opts
  COMPREPLY=()
  if [ "$COMP_CWORD" -eq 1 ]; then
    opts="${first.join(' ')}"
  else
    case \${COMP_WORDS[1]} in
${arms.join('\n')}
    *) opts="${mount ? flagsOf(mount).join(' ') : ''}" ;;
    esac
  fi
  if [[ $cur == -* || $COMP_CWORD -eq 1 && $cur != */* && $cur != .* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
  fi
  [ \${#COMPREPLY[@]} -gt 0 ] || mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}
complete -o filenames -F _unionmount unionmount
`;
}

export function completionCommand(io: CliIO, program: () => Command): Command {
  return new Command('completion')
    .description('print a shell completion script')
    .argument('[shell]', 'the shell (bash)', 'bash')
    .addHelpText('after', '\nExample:\n  eval "$(unionmount completion bash)"    # in ~/.bashrc\n')
    .action((shell: string) => {
      if (shell !== 'bash')
        throw new UnionmountError(`completion ${shell}: only bash is supported`, 2);
      io.out(bashCompletion(program()));
    });
}
