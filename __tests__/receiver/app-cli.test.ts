/** The command structure and `integrations validate | list`, in process (serve runs in serve-process.test.ts). */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { buildProgram, packageVersion } from '../../src/cli/main'
import { list, validate } from '../../src/cli/integrations'
import { BUNDLED_INTEGRATIONS_DIR } from '../../src/receiver/integrations'
import { tempDir, writeIntegrations } from './app-helpers'

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough()
  let text = ''
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()))
  return { stream, text: () => text }
}

const validCapability = {
  requestParser: {
    environmentIdPath: '/environmentId',
    cohortIdPath: '/cohortId',
    cohortNamePath: '/cohortName',
    memberArrayPath: '/members',
    memberArrayParser: { memberIdPath: '/id', booleanMembershipPath: '/value' }
  }
}

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('program', () => {
  it('is synced-segments with the package version and every command', () => {
    const program = buildProgram()
    expect(program.name()).toBe('synced-segments')
    expect(program.version()).toBe(packageVersion())
    expect(packageVersion()).toMatch(/^\d+\.\d+\.\d+/)
    const names = program.commands.map((c) => c.name())
    expect(names).toEqual(['serve', 'replay', 'demo', 'segments', 'history', 'integrations'])
    const serve = program.commands.find((c) => c.name() === 'serve')
    expect(serve?.options.map((o) => o.long)).toEqual(['--port', '--host', '--data', '--store', '--integrations', '--config'])
    const defaults = Object.fromEntries((serve?.options ?? []).map((o) => [o.attributeName(), o.defaultValue as unknown]))
    expect(defaults).toMatchObject({ port: 8787, host: '127.0.0.1', data: './data', store: 'sqlite' })
  })

  it('rejects a port that is not one', () => {
    const program = buildProgram()
    const serve = program.commands.find((c) => c.name() === 'serve')
    let errors = ''
    serve?.exitOverride().configureOutput({ writeErr: (text) => (errors += text) })
    expect(() => program.parse(['serve', '--port', 'eighty'], { from: 'user' })).toThrow()
    expect(errors).toContain('must be a port number')
  })
})

describe('integrations validate', () => {
  it('exits 0 with a summary for the bundled integrations', () => {
    const out = capture()
    const err = capture()
    expect(validate(BUNDLED_INTEGRATIONS_DIR, out.stream, err.stream)).toBe(0)
    expect(out.text()).toMatch(/^12 integrations valid in .*: amplitude, /)
    expect(err.text()).toBe('')
  })

  it('exits 1 naming the file and the broken rule of each invalid manifest', () => {
    const dir = writeIntegrations({
      good: validCapability,
      'half-arrays': {
        requestParser: { ...validCapability.requestParser, memberArrayPath: undefined, addMemberArrayPath: '/add' }
      },
      'bad-matcher': {
        requestParser: { ...validCapability.requestParser, arrayInclusion: { path: '/action', matcher: '(' } }
      }
    })
    dirs.push(dir)
    const out = capture()
    const err = capture()
    expect(validate(dir, out.stream, err.stream)).toBe(1)
    expect(err.text()).toContain(`${join(dir, 'half-arrays', 'manifest.json')}: [add-remove-pair]`)
    expect(err.text()).toContain(`${join(dir, 'bad-matcher', 'manifest.json')}: [matcher-regex]`)
    expect(err.text()).not.toContain(join(dir, 'good'))
    expect(out.text()).toBe('')
  })

  it('exits 1 for a directory without integrations', () => {
    const dir = tempDir('no-integrations-')
    dirs.push(dir)
    const err = capture()
    expect(validate(dir, capture().stream, err.stream)).toBe(1)
    expect(err.text()).toContain('no integrations')
    expect(validate(join(dir, 'missing'), capture().stream, err.stream)).toBe(1)
  })
})

describe('integrations list', () => {
  it('lists the bundled integrations with their mode, plus extra ones', () => {
    const dir = writeIntegrations({ 'my-cdp': validCapability })
    dirs.push(dir)
    const out = capture()
    list(dir, out.stream)
    const lines = out.text().trim().split('\n')
    expect(lines[0]).toMatch(/^KEY\s+MODE\s+RESPONSE BODY\s+NAME$/)
    expect(lines).toHaveLength(14)
    expect(lines.find((l) => l.startsWith('heap-inbound '))).toMatch(/add\/remove arrays\s+custom\s+Heap Segments/)
    expect(lines.find((l) => l.startsWith('zeotap '))).toMatch(/array inclusion\s+default/)
    expect(lines.find((l) => l.startsWith('my-cdp '))).toMatch(/boolean membership\s+default\s+my-cdp/)
  })
})
