/**
 * The README and `--help` agree (SPEC §D2): every command line the README shows — in code blocks,
 * in the command table, in inline code that starts with `synced-segments` — names commands that
 * exist and flags that the command's own `--help` lists. Generic on purpose: it reads the README
 * and asks the real commander program, so a command added later is checked the same way.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import { buildProgram } from '../../src/cli/main'

const README = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8')
const INVOCATION = /(?:^|\s|`)(?:npx\s+)?(?:synced-segments|node\s+dist\/cli\/main\.js)\s+(.*)$/

/** Command lines (the words after `synced-segments`) from fenced blocks, table rows and inline code. */
function readmeCommandLines(markdown: string): string[] {
  const found: string[] = []
  let fenced = false
  let section = ''
  for (const line of markdown.split('\n')) {
    if (/^```/.test(line)) {
      fenced = !fenced
      continue
    }
    if (!fenced && /^#{1,3} /.test(line)) section = line
    if (fenced) {
      // Output lines are shown as comments; a pipe or && ends the command, # starts a comment.
      if (/^\s*#/.test(line)) continue
      const match = INVOCATION.exec(line.split(/\s(?:\||&&|;|#)\s/)[0])
      if (match) found.push(match[1])
      continue
    }
    // The command table names commands without the program's name, in its first column.
    const inTable = line.startsWith('|') && /^## The command/.test(section)
    const firstCell = inTable ? line.split(/(?<!\\)\|/)[1] : ''
    for (const [, code] of line.matchAll(/`([^`]+)`/g)) {
      const text = code.replace(/\\\|/g, '|')
      const match = INVOCATION.exec(text)
      if (match) found.push(match[1])
    }
    for (const [, code] of firstCell.matchAll(/`([^`]+)`/g)) found.push(code.replace(/\\\|/g, '|'))
  }
  // `synced-segments …` stands for any command.
  return found.map((l) => l.trim()).filter((l) => l && l !== '…')
}

/** The command a line names (following subcommands), and the flags it uses. */
function resolve(
  program: Command,
  commandLine: string
): { command: Command; path: string[]; flags: string[] } {
  const words = commandLine.replace(/[[\]]/g, ' ').split(/\s+/).filter(Boolean)
  let command = program
  const path: string[] = []
  for (const word of words) {
    const sub = command.commands.find((c) => c.name() === word || c.aliases().includes(word))
    if (!sub) break
    command = sub
    path.push(word)
  }
  const flags = words.filter((w) => /^--?[a-z]/i.test(w)).map((w) => w.replace(/=.*$/, ''))
  return { command, path, flags }
}

const program = buildProgram()
const lines = readmeCommandLines(README)

it('finds the command lines the README shows', () => {
  expect(lines.length).toBeGreaterThan(5)
  const named = new Set(lines.map((l) => resolve(program, l).path[0]))
  for (const command of program.commands) expect(named).toContain(command.name())
})

it.each(lines.map((l) => [l]))(
  '`synced-segments %s`: the command exists and its --help lists each flag',
  (line) => {
    const { command, path, flags } = resolve(program, line)
    expect(path.length).toBeGreaterThan(0)
    // A command with subcommands is not run by itself: the line must name one of them.
    expect(command.commands.map((c) => c.name())).toEqual([])
    const help = command.helpInformation()
    for (const flag of flags)
      expect({ flag, listed: new RegExp(`(^|[\\s,])${flag}(\\s|,|$)`, 'm').test(help) }).toEqual({
        flag,
        listed: true
      })
  }
)

it('reads fenced blocks, table rows and inline code, and skips output comments and pipes', () => {
  const sample = [
    '## The command',
    '| `serve [--port 8787] [--store sqlite\\|redis://h]` | runs |',
    '```sh',
    'npx synced-segments integrations list | head -1',
    '# synced-segments demo --not-a-command-line',
    '```',
    'Run `synced-segments demo --keep` to keep the data.'
  ].join('\n')
  expect(readmeCommandLines(sample)).toEqual([
    'serve [--port 8787] [--store sqlite|redis://h]',
    'integrations list',
    'demo --keep'
  ])
  expect(resolve(program, 'segments members KEY --limit 5')).toMatchObject({
    path: ['segments', 'members'],
    flags: ['--limit']
  })
})
