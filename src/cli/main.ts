#!/usr/bin/env node
/**
 * The `synced-segments` command. Each command lives in its own module exporting
 * `register(program)`; adding one is a line in COMMANDS.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Command } from 'commander'
import * as demo from './demo'
import * as history from './history'
import * as integrations from './integrations'
import * as replay from './replay'
import * as segments from './segments'
import * as serve from './serve'

export interface CommandModule {
  register(program: Command): void
}

export const COMMANDS: CommandModule[] = [serve, replay, demo, segments, history, integrations]

/** Read at run time: package.json sits two levels up from both src/cli and dist/cli. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
  return pkg.version
}

export function buildProgram(): Command {
  const program = new Command('synced-segments')
    .description('Segment Engage audiences as LaunchDarkly synced segments: destination, receiver and tools')
    .version(packageVersion())
  for (const command of COMMANDS) command.register(program)
  return program
}

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((error: unknown) => {
      // Expected failures (configuration, manifests) carry a message meant for the user; no stack.
      process.stderr.write(`synced-segments: ${error instanceof Error ? error.message : String(error)}\n`)
      process.exitCode = 1
    })
}
