import Database from 'better-sqlite3'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { StoreUnavailableError } from '../../src/errors'
import { MIGRATIONS, openSqliteStore, SQL, SqliteSegmentStore } from '../../src/store/sqlite'
import type { EnvironmentRef, SegmentChange } from '../../src/store/types'
import { importMembers } from '../../src/store/bulk'
import { collect, runStoreContract } from './contract'

const env: EnvironmentRef = { projectKey: 'default', environmentKey: 'production' }

function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'synced-segments-sqlite-'))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

function change(segmentKey: string, keys: string[], included = true): SegmentChange {
  return {
    segmentKey,
    name: segmentKey,
    contextKind: 'user',
    integrationKey: 'segment-audiences',
    ops: keys.map((contextKey) => ({ contextKey, included }))
  }
}

function keys(count: number, prefix = 'ctx'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(7, '0')}`)
}

runStoreContract('sqlite', async () => {
  const { dir, remove } = tempDir()
  const store = openSqliteStore({ path: join(dir, 'segments.db') })
  return {
    store,
    cleanup: async () => {
      await store.close()
      remove()
    }
  }
})

describe('SQLite store', () => {
  let dir: string
  let remove: () => void
  let path: string
  const open: SqliteSegmentStore[] = []

  function openStore(): SqliteSegmentStore {
    const store = new SqliteSegmentStore(path)
    open.push(store)
    return store
  }

  /** A second, plain connection to look at what is really on disk. */
  function inspect<T>(look: (db: Database.Database) => T): T {
    const db = new Database(path, { readonly: true })
    try {
      return look(db)
    } finally {
      db.close()
    }
  }

  function countRows(table: 'members' | 'dropped_segments'): number {
    return inspect((db) => db.prepare<[], number>(`SELECT count(*) FROM ${table}`).pluck().get() ?? 0)
  }

  beforeEach(() => {
    ;({ dir, remove } = tempDir())
    path = join(dir, 'segments.db')
  })

  afterEach(async () => {
    await Promise.all(open.splice(0).map((store) => store.close()))
    remove()
  })

  it('keeps data across close and reopen', async () => {
    const first = openStore()
    await first.apply(env, [change('seg', ['a', 'b', 'c'])], { allowCreate: true, now: 1000 })
    await first.apply(env, [change('seg', ['b'], false)], { allowCreate: true, now: 2000 })
    await first.close()

    const second = openStore()
    expect(await second.getSegment(env, 'seg')).toMatchObject({
      generation: 1,
      creationDate: 1000,
      lastModifiedDate: 2000,
      includedCount: 2
    })
    expect(await collect(second.members(env, 'seg', {}))).toEqual(['a', 'c'])
  })

  it('runs in WAL mode with a versioned schema', async () => {
    openStore()
    const { journalMode, userVersion } = inspect((db) => ({
      journalMode: db.pragma('journal_mode', { simple: true }),
      userVersion: db.pragma('user_version', { simple: true })
    }))
    expect(journalMode).toBe('wal')
    expect(userVersion).toBe(MIGRATIONS.length)
  })

  it('migrates a database file of the first schema, keeping its segments and members', async () => {
    const db = new Database(path)
    db.exec(MIGRATIONS[0])
    db.pragma('user_version = 1')
    db.prepare(
      `INSERT INTO segments (project_key, environment_key, segment_key, name, context_kind, generation, creation_date,
        last_modified_date, external, included_count) VALUES ('default', 'production', 'seg', 'Old', 'user', 3, 1000, 2000, 'hightouch', 1)`
    ).run()
    db.prepare("INSERT INTO members (segment_id, context_key) VALUES (1, 'a')").run()
    db.close()

    const store = openStore()
    expect(await store.getSegment(env, 'seg')).toEqual({
      key: 'seg',
      name: 'Old',
      unbounded: true,
      unboundedContextKind: 'user',
      generation: 3,
      creationDate: 1000,
      lastModifiedDate: 2000,
      _external: 'hightouch',
      includedCount: 1,
      excludedCount: 0,
      version: 1
    })
    await store.updateTargets(env, 'seg', { excluded: { add: ['x'] } }, { now: 3000 })
    await store.apply(env, [{ ...change('seg', ['b']), cohortId: 'c1' }], { allowCreate: false, now: 4000 })
    expect(await store.getSegment(env, 'seg')).toMatchObject({
      includedCount: 2,
      excludedCount: 1,
      cohortId: 'c1'
    })
    expect(await store.membership(env, 'seg', 'a')).toEqual({ included: true, excluded: false })
  })

  it('migrates a database from before the jobs table, keeping its segments, and then imports into them', async () => {
    const store = openStore()
    await store.apply(env, [change('seg', ['a', 'b'])], { allowCreate: true, now: 1000 })
    await store.close()
    // Back to what the schema was before the jobs table: without it, at the version of the step before.
    const jobsStep = MIGRATIONS.findIndex((step) => step.includes('segment_jobs'))
    const db = new Database(path)
    db.exec('DROP TABLE segment_jobs')
    db.pragma(`user_version = ${jobsStep}`)
    db.close()
    const migrated = openStore()
    expect(inspect((db) => db.pragma('user_version', { simple: true }))).toBe(MIGRATIONS.length)
    expect(await collect(migrated.members(env, 'seg', {}))).toEqual(['a', 'b'])
    async function* file(): AsyncGenerator<string[]> {
      yield ['b', 'c']
    }
    await expect(
      importMembers(migrated, env, 'seg', file(), 'replace', { id: 'after-migration' })
    ).resolves.toMatchObject({
      status: 'complete',
      added: 1,
      removed: 1
    })
    expect(await collect(migrated.members(env, 'seg', {}))).toEqual(['b', 'c'])
    // The staging file is gone with the import.
    expect(existsSync(`${path}-import-after-migration`)).toBe(false)
  })

  it('refuses a database written by a newer schema version', async () => {
    const db = new Database(path)
    db.pragma('user_version = 99')
    db.close()
    expect(() => openStore()).toThrow(/schema version 99 is newer/)
    // A connection left open keeps its WAL files; the last one to close cleanly removes them.
    expect(existsSync(`${path}-wal`)).toBe(false)
    expect(existsSync(`${path}-shm`)).toBe(false)
  })

  it('stores nothing of an apply that fails midway with a SQLite error', async () => {
    const store = openStore()
    await store.apply(env, [change('seg', ['kept'])], { allowCreate: true, now: 1000 })
    // A name SQLite cannot bind, on the last change: the changes before it have already been written.
    const broken = { ...change('third', ['y']), name: {} as unknown as string }

    await expect(
      store.apply(env, [change('other', ['x']), change('seg', keys(1000)), broken], {
        allowCreate: true,
        now: 2000
      })
    ).rejects.toThrow(/parameter/)
    expect(await store.getSegment(env, 'seg')).toMatchObject({ includedCount: 1, lastModifiedDate: 1000 })
    expect(await collect(store.members(env, 'seg', {}))).toEqual(['kept'])
    expect(await store.getSegment(env, 'other')).toBeUndefined()
    expect(await store.getSegment(env, 'third')).toBeUndefined()
    expect(countRows('members')).toBe(1)
  })

  it('lets the last op on a context key win when a change both adds and removes it', async () => {
    const store = openStore()
    await store.apply(env, [change('seg', ['a', 'b'])], { allowCreate: true })
    const ops = [
      { contextKey: 'a', included: false },
      { contextKey: 'c', included: true },
      { contextKey: 'a', included: true },
      { contextKey: 'b', included: true },
      { contextKey: 'c', included: false },
      { contextKey: 'b', included: false }
    ]
    const result = await store.apply(env, [{ ...change('seg', []), ops }], { allowCreate: true })
    expect(result.segments[0].includedCount).toBe(1)
    expect(await collect(store.members(env, 'seg', {}))).toEqual(['a'])
  })

  it('deletes a large segment without touching its member rows, then purges them in the background', async () => {
    const store = openStore()
    await store.apply(env, [change('big', keys(30_000)), change('small', ['a'])], { allowCreate: true })
    expect(await store.deleteSegment(env, 'big')).toBe(true)

    // The delete itself left the rows for the purge: it is one row's work, whatever the size.
    expect(countRows('members')).toBe(30_001)
    expect(await store.getSegment(env, 'big')).toBeUndefined()
    expect(await store.isIncluded(env, 'big', 'ctx-0000000')).toBe(false)

    for (
      let waited = 0;
      (countRows('members') > 1 || countRows('dropped_segments') > 0) && waited < 10_000;
      waited += 20
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(countRows('members')).toBe(1)
    expect(countRows('dropped_segments')).toBe(0)
    expect(await store.isIncluded(env, 'small', 'a')).toBe(true)
  })

  it('purges in bounded batches and resumes the purge after a restart', async () => {
    const first = openStore()
    await first.apply(env, [change('big', keys(12_000))], { allowCreate: true })
    await first.deleteSegment(env, 'big')
    expect(first.purgeDeletedMembers(5000)).toBe(5000)
    expect(countRows('members')).toBe(7000)
    await first.close()

    const second = openStore()
    await second.apply(env, [change('big', keys(3, 'new'))], { allowCreate: true })
    expect(await second.getSegment(env, 'big')).toMatchObject({ generation: 2, includedCount: 3 })
    for (let waited = 0; countRows('dropped_segments') > 0 && waited < 10_000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(countRows('members')).toBe(3)
    expect(second.purgeDeletedMembers()).toBe(0)
    expect(await collect(second.members(env, 'big', {}))).toEqual(keys(3, 'new'))
  })

  it('commits concurrent applies together, each one accepted or rejected on its own', async () => {
    const store = openStore()
    await store.apply(env, [change('seg', ['a'])], { allowCreate: true, now: 1000 })
    const device = { ...change('seg', ['conflict']), contextKind: 'device' }

    const outcomes = await Promise.allSettled([
      store.apply(env, [change('seg', ['b'])], { allowCreate: true, now: 2000 }),
      store.apply(env, [change('fresh', ['x']), device], { allowCreate: true, now: 2000 }),
      store.apply(env, [change('seg', ['c'])], { allowCreate: true, now: 2000 }),
      store.apply(env, [change('denied', ['y'])], { allowCreate: false, now: 2000 })
    ])
    expect(outcomes.map((outcome) => outcome.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected'
    ])
    expect(outcomes[2]).toMatchObject({ value: { segments: [{ key: 'seg', includedCount: 3 }] } })
    expect(outcomes[1]).toMatchObject({ reason: { statusCode: 409 } })
    expect(outcomes[3]).toMatchObject({ reason: { statusCode: 403 } })
    expect(await collect(store.members(env, 'seg', {}))).toEqual(['a', 'b', 'c'])
    expect(await store.getSegment(env, 'fresh')).toBeUndefined()
    expect(await store.getSegment(env, 'denied')).toBeUndefined()
  })

  it('commits while the global timers are faked', async () => {
    const store = openStore()
    jest.useFakeTimers()
    try {
      await expect(store.apply(env, [change('seg', ['a'])], { allowCreate: true })).resolves.toMatchObject({
        segments: [{ includedCount: 1 }]
      })
    } finally {
      jest.useRealTimers()
    }
  })

  it('commits applies still waiting when the store closes', async () => {
    const store = openStore()
    const pending = store.apply(env, [change('seg', ['a', 'b'])], { allowCreate: true })
    await store.close()
    await expect(pending).resolves.toMatchObject({ segments: [{ includedCount: 2 }] })
    await expect(store.apply(env, [change('seg', ['c'])], { allowCreate: true })).rejects.toBeInstanceOf(
      StoreUnavailableError
    )

    const reopened = openStore()
    expect(await collect(reopened.members(env, 'seg', {}))).toEqual(['a', 'b'])
  })

  it('loses nothing acknowledged and leaves nothing half applied when the process is killed -9', async () => {
    // A writer process acknowledges each apply on stdout once it resolves; it is killed mid-stream.
    const writer = `
      require('ts-node').register({ transpileOnly: true, project: ${JSON.stringify(join(__dirname, '../../tsconfig.json'))} })
      const { openSqliteStore } = require(${JSON.stringify(join(__dirname, '../../src/store/sqlite.ts'))})
      const store = openSqliteStore({ path: process.argv[1] })
      const env = ${JSON.stringify(env)}
      ;(async () => {
        for (let i = 0; ; i++) {
          const ops = Array.from({ length: 200 }, (_, j) => ({ contextKey: i + '-' + j, included: true }))
          const change = { segmentKey: 'seg', name: 'seg', contextKind: 'user', integrationKey: 'x', ops }
          await store.apply(env, [change], { allowCreate: true })
          process.stdout.write(i + '\\n')
        }
      })()
    `
    const child = spawn(process.execPath, ['-e', writer, path], { stdio: ['ignore', 'pipe', 'inherit'] })
    let acknowledged = -1
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject)
      child.on('exit', () => resolve())
      child.stdout.on('data', (chunk: Buffer) => {
        const lines = chunk.toString().trim().split('\n')
        acknowledged = Number(lines[lines.length - 1])
        if (acknowledged >= 30) child.kill('SIGKILL')
      })
    })
    expect(child.signalCode).toBe('SIGKILL')
    expect(acknowledged).toBeGreaterThanOrEqual(30)

    const store = openStore()
    const segment = await store.getSegment(env, 'seg')
    // Every acknowledged request is there; any later one is there whole or not at all.
    expect(segment?.includedCount).toBeGreaterThanOrEqual((acknowledged + 1) * 200)
    expect((segment?.includedCount ?? 0) % 200).toBe(0)
    for (let i = 0; i <= acknowledged; i++) {
      expect(await store.isIncluded(env, 'seg', `${i}-0`)).toBe(true)
      expect(await store.isIncluded(env, 'seg', `${i}-199`)).toBe(true)
    }
    expect(countRows('members')).toBe(segment?.includedCount)
  }, 60_000)

  it('streams a large segment page by page in order', async () => {
    const store = openStore()
    const all = keys(25_000)
    await store.apply(env, [change('big', [...all].reverse())], { allowCreate: true })
    expect(await collect(store.members(env, 'big', {}))).toEqual(all)
    expect(await collect(store.members(env, 'big', { after: all[1499], limit: 1001 }))).toEqual(
      all.slice(1500, 2501)
    )
  })

  it('reports a closed database as unavailable', async () => {
    const store = openStore()
    await store.ping()
    await store.close()
    await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError)
    await expect(store.getSegment(env, 'seg')).rejects.toMatchObject({ statusCode: 503 })
  })

  describe('query plans', () => {
    // Parameters do not change a plan; any values of the right type will do. (An INSERT has no
    // read plan: addMembers finds duplicates through the primary key by construction.)
    const plans: Array<[keyof typeof SQL, unknown[]]> = [
      ['segment', ['p', 'e', 's']],
      ['segmentId', ['p', 'e', 's']],
      ['tombstone', ['p', 'e', 's']],
      ['isMember', ['p', 'e', 's', 'c']],
      ['removeMembers', [1, '["c"]']],
      ['firstMembers', [1, 10]],
      ['nextMembers', [1, 'c', 10]],
      ['listSegments', ['p', 'e', 10, 0]],
      ['countSegments', ['p', 'e']],
      ['touchSegment', ['n', 1, null, 1, 0, null, 1]],
      ['isExcluded', ['p', 'e', 's', 'c']],
      ['removeExcluded', [1, '["c"]']],
      ['touchTargets', [1, 1, 1, 1]],
      ['deleteSegment', [1]],
      ['purgeMembers', [1, 1, 10]],
      ['purgeExcluded', [1, 1, 10]]
    ]

    it.each(plans)('%s reads through an index, never a scan or a sort', (name, params) => {
      openStore()
      const details = inspect((db) =>
        db
          .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${SQL[name]}`)
          .all(...params)
          .map((row) => row.detail)
      )
      // Scanning json_each reads the request's own keys once; every stored table must be searched.
      const lookups = details.filter((detail) => /^(SEARCH|SCAN)\b/.test(detail) && !/json_each/.test(detail))
      expect(lookups.length).toBeGreaterThan(0)
      for (const lookup of lookups) {
        expect(lookup).toMatch(/^SEARCH \w+ USING (INTEGER PRIMARY KEY|PRIMARY KEY|(COVERING )?INDEX) /)
      }
      expect(details.some((detail) => /TEMP B-TREE/.test(detail))).toBe(false)
    })
  })
})
