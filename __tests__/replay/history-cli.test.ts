import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { fetchHistory, formatHistoryTable, register } from '../../src/cli/history'
import { resolveTarget, type ReceiverTarget } from '../../src/cli/segments'
import { createReceiver, type Receiver } from '../../src/receiver/index'

describe('synced-segments history', () => {
  let dir: string
  let dataDir: string
  let receiver: Receiver
  let target: ReceiverTarget

  async function post(body: unknown): Promise<number> {
    const response = await fetch(new URL('/api/v2/segment-targets/segment-audiences', target.baseUrl), {
      method: 'POST',
      headers: { authorization: target.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify(body)
    })
    return response.status
  }

  function audience(cohortId: string, members: [string, boolean][], contextKind = 'user'): unknown {
    return {
      environmentId: receiver.credentials?.clientSideId,
      contextKind,
      batch: members.map(([userId, value]) => ({ userId, value, cohortId, cohortName: cohortId }))
    }
  }

  async function run(...args: string[]): Promise<string[]> {
    const written: string[] = []
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk))
      return true
    })
    try {
      const program = new Command().exitOverride()
      register(program)
      await program.parseAsync(['history', '--base-url', target.baseUrl, '--data', dataDir, ...args], {
        from: 'user'
      })
    } finally {
      spy.mockRestore()
    }
    return written.join('').trimEnd().split('\n')
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'history-cli-'))
    dataDir = join(dir, 'data')
    receiver = await createReceiver({ dataDir, logger: false })
    await receiver.app.listen({ host: '127.0.0.1', port: 0 })
    const baseUrl = `http://127.0.0.1:${(receiver.app.server.address() as AddressInfo).port}`
    target = resolveTarget({ baseUrl, data: dataDir, project: 'default', environment: 'production' })
    expect(
      await post(
        audience('vip', [
          ['a', true],
          ['b', true]
        ])
      )
    ).toBe(204)
    expect(await post(audience('churn', [['c', true]]))).toBe(204)
    expect(
      await post(
        audience('vip', [
          ['a', false],
          ['b', true],
          ['d', true]
        ])
      )
    ).toBe(204)
    expect(await post(audience('vip', [['a', true]], 'device'))).toBe(409)
    // The rejected request's record is written after its response.
    for (let i = 0; i < 100 && (await fetchHistory(target, { errorsOnly: true }, 10)).length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })

  afterAll(async () => {
    await receiver?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('prints every request newest first with its counts', async () => {
    const lines = await run()
    expect(lines).toHaveLength(5)
    expect(lines[0]).toMatch(
      /^TIME\s+STATUS\s+OPERATION\s+INTEGRATION\s+TOKEN\s+SEGMENTS\s+ADDED\s+REMOVED\s+UNCHANGED\s+MS\s+ERROR$/
    )
    expect(lines[1]).toMatch(
      /\s409\s+segment-targets\s+segment-audiences\s+development\s+segment-audiences-vip\s+0\s+0\s+0\s+\d+\s+conflict: /
    )
    expect(lines[2]).toMatch(
      /\s204\s+segment-targets\s+segment-audiences\s+development\s+segment-audiences-vip\s+1\s+1\s+1\s+\d+$/
    )
    expect(lines[4]).toMatch(/\s204\s.*segment-audiences-vip\s+2\s+0\s+0\s+\d+$/)
  })

  it('filters by segment and by errors, and stops at the limit', async () => {
    const churn = await run('--segment', 'segment-audiences-churn')
    expect(churn).toHaveLength(2)
    expect(churn[1]).toMatch(/segment-audiences-churn\s+1\s+0\s+0/)
    const errors = await run('--errors')
    expect(errors).toHaveLength(2)
    expect(errors[1]).toMatch(/409/)
    expect(await run('--segment', 'nothing-here')).toEqual(['no sync history yet'])
    expect(await fetchHistory(target, {}, 2)).toHaveLength(2)
    expect(formatHistoryTable(await fetchHistory(target, {}, 50))).toHaveLength(5)
  })
})
