/**
 * Starts a real `redis-server` for tests: on a free loopback port, in its own temporary directory,
 * without persistence unless asked. Tests that need Redis never skip: a missing binary is an error
 * that says how to install it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string
  port: number
  /** Stops the server for good and removes its directory (call it in afterAll). */
  stop(): Promise<void>
  /** Kills the server abruptly (SIGKILL), keeping its directory so `start()` can bring it back. */
  kill(): Promise<void>
  /** Starts it again on the same port and directory (after `kill()`). */
  start(): Promise<void>
  /** Shuts it down cleanly (SIGTERM) and starts it again on the same port. */
  restart(): Promise<void>
  /** Freezes the process (SIGSTOP): connections stay open but nothing answers, like a hung server. */
  pause(): void
  /** Lets a paused server run again (SIGCONT). */
  resume(): void
}

export interface RedisServerOptions {
  /** Keep data across restarts with an append-only file in the server's directory. */
  appendonly?: boolean
  /** How long to wait for PING to answer after spawning (default 10 s). */
  startTimeoutMs?: number
}

const BINARY = process.env.REDIS_SERVER_BIN ?? 'redis-server'

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  let port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'synced-segments-redis-'))
  const startTimeoutMs = options.startTimeoutMs ?? 10_000
  let child: ChildProcess | undefined

  const start = async (): Promise<void> => {
    if (child) throw new Error(`redis-server on port ${port} is already running`)
    const config: Record<string, string> = {
      port: String(port),
      bind: '127.0.0.1',
      dir,
      save: '',
      appendonly: options.appendonly ? 'yes' : 'no',
      daemonize: 'no',
      loglevel: 'warning'
    }
    const args = Object.entries(config).flatMap(([name, value]) => [`--${name}`, value])
    const proc = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    child = proc
    // redis-server logs to stdout; kept for the error message when it exits early (e.g. port taken).
    let output = ''
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-4_000)
    }
    proc.stdout?.on('data', keep)
    proc.stderr?.on('data', keep)
    const exited = new Promise<Error>((resolve) => {
      proc.once('error', (err: NodeJS.ErrnoException) => {
        resolve(
          err.code === 'ENOENT'
            ? new Error(
                `redis-server not found (${BINARY}): the Redis store tests need a real server. ` +
                  'Install the Debian package: apt-get install -y redis-server (.ci/run does this), ' +
                  'or set REDIS_SERVER_BIN.'
              )
            : err
        )
      })
      proc.once('exit', (code, signal) => {
        resolve(new Error(`redis-server exited early (code ${code}, signal ${signal}): ${output.trim()}`))
      })
    })
    const ready = waitUntilServing(port, proc.pid, startTimeoutMs)
    const outcome = await Promise.race([ready.then(() => undefined), exited])
    if (outcome instanceof Error) {
      child = undefined
      proc.kill('SIGKILL')
      throw outcome
    }
  }

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child
    if (!proc) return
    child = undefined
    if (proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    proc.kill('SIGCONT') // a paused server would not act on SIGTERM
    proc.kill(signal)
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(timer)
  }

  const signal = (name: NodeJS.Signals): void => {
    if (!child) throw new Error(`redis-server on port ${port} is not running`)
    child.kill(name)
  }

  // Parallel jest workers can pick the same free port between our probe and redis-server's bind.
  for (let attempt = 1; ; attempt += 1) {
    try {
      await start()
      break
    } catch (err) {
      if (attempt >= 5 || !/Address already in use/i.test(String(err))) {
        rmSync(dir, { recursive: true, force: true })
        throw err
      }
      port = await freePort()
    }
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    async stop() {
      await halt('SIGTERM')
      rmSync(dir, { recursive: true, force: true })
    },
    kill: () => halt('SIGKILL'),
    async restart() {
      await halt('SIGTERM')
      await start()
    },
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT')
  }
}

/** A port the OS says is free right now (bind to 0, read it, release it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/**
 * Resolves once the server on `port` answers and is the process we spawned (its INFO names our pid),
 * so a foreign server that won a race for the port is never mistaken for ours.
 */
async function waitUntilServing(port: number, pid: number | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if ((await serverPid(port)) === pid) return
    if (Date.now() > deadline)
      throw new Error(`redis-server on port ${port} did not answer within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** The process id the server on `port` reports (raw RESP: no client library, no reconnect noise). */
function serverPid(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let reply = ''
    const done = (pid: number | undefined): void => {
      socket.destroy()
      resolve(pid)
    }
    socket.setTimeout(500, () => done(undefined))
    socket.once('error', () => done(undefined))
    socket.once('connect', () => socket.write('INFO server\r\n'))
    socket.on('data', (chunk) => {
      reply += chunk.toString()
      const match = /process_id:(\d+)\r\n/.exec(reply)
      if (match) done(Number(match[1]))
      else if (reply.startsWith('-')) done(undefined)
    })
  })
}
