/**
 * `synced-segments serve`: the receiver on a port. Prints where it listens, the client-side IDs
 * and, for the development set-up, the token; shuts down gracefully on SIGINT/SIGTERM (the app
 * finishes in-flight requests, then the store closes).
 */
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { type Command, InvalidArgumentError } from 'commander'
import { CREDENTIALS_FILE } from '../receiver/config'
import { DEFAULT_HEARTBEAT_MS } from '../receiver/big-segments'
import { createReceiver, type Receiver } from '../receiver/index'

export interface ServeOptions {
  port: number
  host: string
  data: string
  store: string
  integrations?: string
  config?: string
  /** Milliseconds between big-segment heartbeats on Redis (§C3); 0 turns them off. */
  heartbeat?: number
}

function parseHeartbeat(value: string): number {
  const ms = Number(value)
  if (!Number.isInteger(ms) || ms < 0) throw new InvalidArgumentError('must be a whole number of milliseconds (0 turns the heartbeat off)')
  return ms
}

function parsePort(value: string): number {
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('must be a port number (0 picks a free one)')
  return port
}

/** ", 117 skipped (no syncedSegment)" when a directory such as LaunchDarkly's holds other integrations. */
function skippedNote(receiver: Receiver): string {
  const skipped = receiver.integrations.skipped.size
  return skipped > 0 ? `, ${skipped} skipped (no syncedSegment)` : ''
}

/** Whether `host` only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host)
}

/** Starts the receiver and writes the start-up summary to `out`. */
export async function serve(options: ServeOptions, out: NodeJS.WritableStream = process.stdout): Promise<Receiver> {
  const receiver = await createReceiver({
    dataDir: options.data,
    store: options.store,
    integrationsDir: options.integrations,
    configFile: options.config,
    heartbeatMs: options.heartbeat,
    // Errors only, as JSON lines on stderr; requests and tokens are never logged.
    logger: { level: 'warn', stream: process.stderr }
  })
  try {
    await receiver.app.listen({ port: options.port, host: options.host })
  } catch (error) {
    await receiver.close()
    throw error
  }
  const address = receiver.app.server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const lines = [
    `synced-segments receiver listening on http://${host}:${address.port}`,
    `  store         ${options.store === 'sqlite' ? `sqlite (${options.data})` : options.store.replace(/\/\/[^@/]*@/, '//***@')}`,
    `  integrations  ${receiver.integrations.size} loaded${skippedNote(receiver)}`
  ]
  const heartbeat = options.heartbeat ?? DEFAULT_HEARTBEAT_MS
  if (options.store !== 'sqlite' && heartbeat > 0) lines.push(`  heartbeat     big_segments_synchronized_on every ${heartbeat} ms`)
  for (const project of receiver.config.projects) {
    for (const env of project.environments) lines.push(`  environment   ${project.key}/${env.key}  client-side ID ${env.clientSideId}`)
  }
  if (receiver.credentials) {
    lines.push(`  token         ${receiver.credentials.token}  (development set-up, kept in ${join(options.data, CREDENTIALS_FILE)})`)
  } else {
    lines.push(`  tokens        ${receiver.config.tokens.map((t) => t.name).join(', ') || '(none)'}  (from ${options.config})`)
  }
  const warnings = [...receiver.warnings]
  if (receiver.credentials && !isLoopback(options.host)) {
    warnings.unshift(
      `listening on ${options.host}, beyond this machine, with the development token, which allows every action (*): ` +
        'anyone who reaches the port and learns it can change or delete segments; use --config with scoped tokens'
    )
  }
  for (const warning of warnings) lines.push(`  warning       ${warning}`)
  out.write(`${lines.join('\n')}\n`)
  return receiver
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the LaunchDarkly-compatible segment-targets receiver')
    .option('--port <port>', 'port to listen on', parsePort, 8787)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--data <dir>', 'data directory (SQLite file, development credentials)', './data')
    .option('--store <store>', 'sqlite or a redis:// URL', 'sqlite')
    .option('--integrations <dir>', 'extra integrations, <dir>/<key>/manifest.json, adding to or replacing the bundled ones')
    .option('--config <file>', 'configuration file (projects, environments, tokens); without it, a development set-up')
    .option(
      '--heartbeat <ms>',
      'on Redis, refresh each environment\'s big_segments_synchronized_on this often so SDKs stay HEALTHY; 0 = off',
      parseHeartbeat,
      DEFAULT_HEARTBEAT_MS
    )
    .action(async (options: ServeOptions) => {
      // The handlers go in before the receiver starts: a signal that arrives just after the
      // start-up lines are printed must still shut down gracefully, not kill the process.
      const started: { receiver?: Receiver } = {}
      let stopping = false
      const shutDown = (running: Receiver): void => {
        running.close().then(
          () => process.exit(0),
          (error: unknown) => {
            process.stderr.write(`shutdown failed: ${(error as Error).message}\n`)
            process.exit(1)
          }
        )
      }
      const stop = (signal: NodeJS.Signals): void => {
        // A second signal means "now": skip waiting for in-flight requests.
        if (stopping) process.exit(1)
        stopping = true
        process.stdout.write(`${signal}: shutting down\n`)
        if (started.receiver) shutDown(started.receiver)
      }
      process.on('SIGINT', stop)
      process.on('SIGTERM', stop)
      started.receiver = await serve(options)
      if (stopping) shutDown(started.receiver)
    })
}
