/**
 * One receiver per SQLite data directory: two processes writing one segments.db would each keep
 * its own in-memory view (generations, the development token) and answer from it. The lock is a
 * file holding the owner's pid, created exclusively; a lock whose process is gone (killed with
 * SIGKILL, the machine restarted) is stale and taken over, so it never blocks for good.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from './config'

export const LOCK_FILE = 'receiver.lock'

export interface DataLock {
  readonly path: string
  release(): void
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function ownerOf(path: string): number | undefined {
  try {
    const pid = Number((JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown }).pid)
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/** Takes `<dataDir>/receiver.lock`, or throws naming the process that holds it. */
export function lockDataDir(dataDir: string): DataLock {
  const path = join(dataDir, LOCK_FILE)
  for (let attempt = 0; ; attempt++) {
    let fd: number
    try {
      fd = openSync(path, 'wx', 0o600)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const owner = ownerOf(path)
      if (owner !== undefined && isRunning(owner)) {
        throw new ConfigError(
          `${dataDir} is in use by another receiver (pid ${owner}, lock ${path}): stop it, or pass another --data`
        )
      }
      // Stale, or half-written by a start that is racing us: one takeover, then the race is lost.
      if (attempt > 0) throw new ConfigError(`${dataDir}: cannot take the lock ${path}`)
      rmSync(path, { force: true })
      continue
    }
    try {
      writeSync(fd, JSON.stringify({ pid: process.pid, started: new Date().toISOString() }))
    } finally {
      closeSync(fd)
    }
    const releaseOnExit = (): void => rmSync(path, { force: true })
    process.on('exit', releaseOnExit)
    return {
      path,
      release() {
        process.off('exit', releaseOnExit)
        if (ownerOf(path) === process.pid) rmSync(path, { force: true })
      }
    }
  }
}
