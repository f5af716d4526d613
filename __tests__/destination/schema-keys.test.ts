import { dirname } from 'node:path'
import { Destination } from '@segment/actions-core'
import { destination } from '../../src/destination'

// The ajv copy that actions-core itself loads (the one the schema-key mapping applies to).
const actionsCore = dirname(require.resolve('@segment/actions-core'))
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ajvModule = require(require.resolve('ajv', { paths: [actionsCore] })) as typeof import('ajv')
const Ajv = ajvModule.default

describe('schema keys that are not URIs (fast-uri 3.1.6 and later)', () => {
  it('lets actions-core validate the settings of a destination whose name has a space', () => {
    const runner = new Destination(destination)
    expect(() => runner.validateSettings({ apiKey: 'api-token', clientId: 'client-side-id' })).not.toThrow()
    expect(() => runner.validateSettings({ clientId: 'client-side-id' } as never)).toThrow(/apiKey/)
  })

  it('stores and finds a schema under such a key, and leaves URI keys as they are', () => {
    const ajv = new Ajv()
    const schema = { type: 'object', required: ['a'] }
    expect(ajv.getSchema('Some Destination:settings')).toBeUndefined()
    ajv.addSchema(schema, 'Some Destination:settings')
    expect(ajv.getSchema('Some Destination:settings')?.({ a: 1 })).toBe(true)
    expect(ajv.getSchema('Some Destination:settings')?.({})).toBe(false)

    ajv.addSchema(schema, 'https://example.com/schema.json')
    expect(Object.keys(ajv.schemas)).toContain('https://example.com/schema.json')
    expect(ajv.getSchema('https://example.com/schema.json')?.({ a: 1 })).toBe(true)
  })
})
