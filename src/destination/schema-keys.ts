/**
 * actions-core validates settings and payloads with one shared ajv instance, caching each schema
 * under the key `${destination.name}:settings` or `${destination.name}:${action.title}`. ajv reads
 * every key as a URI reference: `getSchema(key)` parses and re-serialises it with fast-uri before
 * the schema is even added. For 'LaunchDarkly Audiences:settings' the part before the colon is
 * parsed as the scheme, and since fast-uri 3.1.6 `serialize` rejects a scheme outside RFC 3986
 * (here: the space) with "URI scheme is malformed." — so, where npm resolves fast-uri 3.1.6 or
 * later (every fresh install), each settings check throws and each batched event fails with 400.
 *
 * The destination's name is fixed (it is the one Segment shows), and pinning fast-uri below 3.1.6
 * would bring back the advisory that release fixed. Instead, the ajv that actions-core loads maps
 * such a key to its percent-encoded form (a plain relative reference) in both `getSchema` and
 * `addSchema`. Keys that fast-uri accepts are passed through unchanged.
 */
import { dirname } from 'node:path'
import type AjvClass from 'ajv'

const RFC3986_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/
const APPLIED = Symbol.for('synced-segments.uri-safe-schema-keys')

type Ajv = InstanceType<typeof AjvClass>

function uriSafeKey(ajv: Ajv, key: unknown): unknown {
  if (typeof key !== 'string' || key === '') return key
  const { scheme } = ajv.opts.uriResolver.parse(key)
  return scheme !== undefined && !RFC3986_SCHEME.test(scheme) ? encodeURIComponent(key) : key
}

/** Makes the ajv that `@segment/actions-core` resolves accept schema keys that are not URIs. */
export function useUriSafeSchemaKeys(): void {
  const actionsCore = dirname(require.resolve('@segment/actions-core'))
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Ajv = (require(require.resolve('ajv', { paths: [actionsCore] })) as { default: typeof AjvClass })
    .default
  const proto = Ajv.prototype as Ajv & { [APPLIED]?: true }
  if (proto[APPLIED]) return
  const { getSchema, addSchema } = proto
  proto.getSchema = function (this: Ajv, keyRef: string) {
    return getSchema.call(this, uriSafeKey(this, keyRef) as string)
  } as typeof getSchema
  proto.addSchema = function (this: Ajv, schema, key, ...rest) {
    return addSchema.call(this, schema, uriSafeKey(this, key) as string | undefined, ...rest)
  } as typeof addSchema
  proto[APPLIED] = true
}
