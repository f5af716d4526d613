/**
 * Test data made only from what a definition declares — each setting's and field's `type`,
 * `format`, `choices`, `minimum`/`maximum`, `multiple` and `properties` — the way the generic
 * snapshot template of segmentio/action-destinations fills them (there with chance, here with
 * fast-check, so a failure shrinks to a small case). As in that template, settings ignore
 * `choices`, and "required only" keeps the required fields and those whose key holds `id`.
 */
import fc from 'fast-check'
import type {
  ActionDefinition,
  DestinationDefinition,
  GlobalSetting,
  InputField
} from '@segment/actions-core'

/** The characters chance's `string()` draws from: printable ASCII, no spaces. */
const CHANCE_POOL = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@#$%^&*()[]'
const templateString = fc.string({ unit: fc.constantFrom(...CHANCE_POOL), minLength: 5, maxLength: 20 })

type Declared = Pick<InputField, 'type' | 'format' | 'multiple' | 'minimum' | 'maximum'> & {
  choices?: InputField['choices']
  properties?: Record<string, Declared & { required?: unknown }>
}

function choiceValues(choices: NonNullable<InputField['choices']>): unknown[] {
  return choices.map((choice) => (typeof choice === 'string' ? choice : choice.value))
}

function formatted(format: string | undefined): fc.Arbitrary<unknown> {
  switch (format) {
    case 'uri':
      // The shape of chance's url(): a scheme, a domain and one path word.
      return fc
        .tuple(fc.constantFrom('http', 'https'), fc.domain(), fc.stringMatching(/^[a-z]{1,8}$/))
        .map(([scheme, domain, word]) => `${scheme}://${domain}/${word}`)
    case 'email':
      return fc.emailAddress()
    case 'uuid':
      return fc.uuid()
    case 'date-time':
      return fc.date({ noInvalidDate: true }).map((d) => d.toISOString())
    case 'hostname':
      return fc.domain()
    case 'ipv4':
      return fc.ipV4()
    default:
      return templateString
  }
}

/** One value for a declared field or setting. */
export function valueFor(field: Declared, options: { ignoreChoices?: boolean } = {}): fc.Arbitrary<unknown> {
  let value: fc.Arbitrary<unknown>
  if (field.properties) {
    value = recordFor(field.properties, false)
  } else if (field.choices && !options.ignoreChoices) {
    value = fc.constantFrom(...choiceValues(field.choices))
  } else {
    const { minimum: min, maximum: max } = field
    switch (field.type) {
      case 'boolean':
        value = fc.boolean()
        break
      case 'integer':
        value = fc.integer({ min, max })
        break
      case 'number':
        // Two decimals, as the template's `floating({ fixed: 2 })`.
        value = fc
          .integer({ min: Math.ceil((min ?? -1e6) * 100), max: Math.floor((max ?? 1e6) * 100) })
          .map((n) => n / 100)
        break
      case 'datetime':
        value = fc.constant('2021-02-01T00:00:00.000Z')
        break
      case 'object':
        value = fc.record({ testType: templateString })
        break
      default:
        value = formatted(field.format)
    }
  }
  return field.multiple ? value.map((v) => [v]) : value
}

function recordFor(
  fields: Record<string, Declared & { required?: unknown }>,
  requiredOnly: boolean
): fc.Arbitrary<Record<string, unknown>> {
  const kept = Object.entries(fields).filter(
    ([key, field]) => !requiredOnly || field.required === true || key.includes('id')
  )
  return fc.record(Object.fromEntries(kept.map(([key, field]) => [key, valueFor(field)])))
}

/** Settings from the authentication fields' declared types and formats. */
export function settingsFor(
  definition: DestinationDefinition<unknown>
): fc.Arbitrary<Record<string, unknown>> {
  const fields = (definition.authentication?.fields ?? {}) as Record<string, GlobalSetting>
  return fc.record(
    Object.fromEntries(
      Object.entries(fields).map(([key, field]) => [
        key,
        valueFor(field as Declared, { ignoreChoices: true })
      ])
    )
  )
}

/** A mapping of literal values for an action's fields: all of them, or the template's "required only". */
export function mappingFor(
  action: ActionDefinition<unknown, unknown>,
  requiredOnly: boolean
): fc.Arbitrary<Record<string, unknown>> {
  return recordFor(action.fields as Record<string, Declared & { required?: unknown }>, requiredOnly)
}
