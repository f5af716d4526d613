import fc from 'fast-check'
import { compilePointer, InvalidPointerError, NOT_FOUND } from '../../src/receiver/pointer'

// The example document of RFC 6901 §5.
const rfcDoc = JSON.parse(`{
  "foo": ["bar", "baz"],
  "": 0,
  "a/b": 1,
  "c%d": 2,
  "e^f": 3,
  "g|h": 4,
  "i\\\\j": 5,
  "k\\"l": 6,
  " ": 7,
  "m~n": 8
}`)

describe('compilePointer: RFC 6901 §5 examples', () => {
  it.each([
    ['', rfcDoc],
    ['/foo', ['bar', 'baz']],
    ['/foo/0', 'bar'],
    ['/', 0],
    ['/a~1b', 1],
    ['/c%d', 2],
    ['/e^f', 3],
    ['/g|h', 4],
    ['/i\\j', 5],
    ['/k"l', 6],
    ['/ ', 7],
    ['/m~0n', 8]
  ])('%j resolves', (pointer, expected) => {
    expect(compilePointer(pointer).get(rfcDoc)).toEqual({ found: true, value: expected })
  })

  it('unescapes ~1 before ~0, so "~01" is the key "~1"', () => {
    const doc = { '~1': 'tilde-one', '/': 'slash' }
    expect(compilePointer('/~01').find(doc)).toBe('tilde-one')
    expect(compilePointer('/~1').find(doc)).toBe('slash')
    expect(compilePointer('/~01').tokens).toEqual(['~1'])
  })

  it('keeps the pointer as written and its unescaped tokens', () => {
    const p = compilePointer('/a~1b/0/m~0n')
    expect(p.pointer).toBe('/a~1b/0/m~0n')
    expect(p.tokens).toEqual(['a/b', '0', 'm~n'])
  })
})

describe('compilePointer: array indices', () => {
  const doc = { list: ['zero', 'one', 'two'], obj: { '01': 'leading-zero-key', '-': 'dash-key', '0': 'zero-key' } }

  it('resolves non-negative integer indices', () => {
    expect(compilePointer('/list/0').find(doc)).toBe('zero')
    expect(compilePointer('/list/2').find(doc)).toBe('two')
  })

  it.each(['/list/01', '/list/-', '/list/3', '/list/-1', '/list/1.0', '/list/ 1', '/list/1e0', '/list/length', '/list/99999999999999999999'])(
    '%s does not resolve',
    (pointer) => {
      expect(compilePointer(pointer).get(doc)).toEqual({ found: false })
    }
  )

  it('treats "01", "-" and "0" as ordinary keys of objects', () => {
    expect(compilePointer('/obj/01').find(doc)).toBe('leading-zero-key')
    expect(compilePointer('/obj/-').find(doc)).toBe('dash-key')
    expect(compilePointer('/obj/0').find(doc)).toBe('zero-key')
  })
})

describe('compilePointer: own properties only', () => {
  it.each(['/constructor', '/__proto__', '/toString', '/hasOwnProperty', '/valueOf', '/constructor/name'])(
    '%s does not resolve on an object without that key',
    (pointer) => {
      expect(compilePointer(pointer).get({ a: 1 })).toEqual({ found: false })
    }
  )

  it('resolves such names when they are real keys of the parsed JSON', () => {
    const doc = JSON.parse('{"constructor": "c", "__proto__": {"x": 1}, "toString": false}')
    expect(compilePointer('/constructor').find(doc)).toBe('c')
    expect(compilePointer('/__proto__/x').find(doc)).toBe(1)
    expect(compilePointer('/toString').get(doc)).toEqual({ found: true, value: false })
  })

  it('does not index into strings or walk array properties', () => {
    expect(compilePointer('/s/0').find({ s: 'abc' })).toBe(NOT_FOUND)
    expect(compilePointer('/s/length').find({ s: 'abc' })).toBe(NOT_FOUND)
    expect(compilePointer('/a/length').find({ a: [1] })).toBe(NOT_FOUND)
    expect(compilePointer('/a/map').find({ a: [1] })).toBe(NOT_FOUND)
  })

  it('stops at null and primitives', () => {
    expect(compilePointer('/a/b').find({ a: null })).toBe(NOT_FOUND)
    expect(compilePointer('/a/b').find({ a: 5 })).toBe(NOT_FOUND)
    expect(compilePointer('/a').find(null)).toBe(NOT_FOUND)
    expect(compilePointer('/a').find('text')).toBe(NOT_FOUND)
  })
})

describe('compilePointer: present values are found, whatever they are', () => {
  it.each([false, 0, '', null, [], {}])('finds %j', (value) => {
    expect(compilePointer('/v').get({ v: value })).toEqual({ found: true, value })
  })

  it('undefined is never a value: a property holding it, or an array hole, is absent', () => {
    expect(compilePointer('/v').get({ v: undefined })).toEqual({ found: false })
    // eslint-disable-next-line no-sparse-arrays
    expect(compilePointer('/1').get([0, , 2])).toEqual({ found: false })
  })

  it('"" is the whole document, even a primitive', () => {
    expect(compilePointer('').find(42)).toBe(42)
    expect(compilePointer('').find(null)).toBeNull()
  })
})

describe('compilePointer: invalid pointers throw', () => {
  it.each(['a', 'a/b', '#/a', '/a~', '/a~2', '/~x', '~0'])('%j', (pointer) => {
    expect(() => compilePointer(pointer)).toThrow(InvalidPointerError)
  })

  it('names the pointer and the reason', () => {
    expect(() => compilePointer('foo')).toThrow('invalid JSON pointer "foo": must be empty or start with "/"')
    expect(() => compilePointer('/a~2')).toThrow('invalid JSON pointer "/a~2": "~" must be followed by "0" or "1"')
  })
})

describe('compilePointer: properties', () => {
  const escape = (token: string) => token.replace(/~/g, '~0').replace(/\//g, '~1')

  it('any key, escaped into a pointer, resolves to its own value', () => {
    fc.assert(
      fc.property(fc.string(), fc.jsonValue(), (key, value) => {
        const doc = JSON.parse(JSON.stringify({ [key]: value }))
        const p = compilePointer('/' + escape(key))
        expect(p.tokens).toEqual([key])
        expect(p.get(doc)).toEqual({ found: true, value: doc[key] })
      })
    )
  })

  it('a path of keys and indices built from a document finds the value it was built from', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.nat({ max: 5 })), { maxLength: 6 }), fc.jsonValue(), (path, leaf) => {
        let doc: unknown = leaf
        for (let i = path.length - 1; i >= 0; i--) {
          const step = path[i]
          if (typeof step === 'number') {
            const arr: unknown[] = new Array(step + 1).fill(null)
            arr[step] = doc
            doc = arr
          } else {
            doc = { [step]: doc }
          }
        }
        const parsed: unknown = JSON.parse(JSON.stringify(doc) ?? 'null')
        const pointer = path.map((s) => '/' + escape(String(s))).join('')
        expect(compilePointer(pointer).find(parsed)).toEqual(JSON.parse(JSON.stringify(leaf) ?? 'null'))
      })
    )
  })

  it('never throws on lookup, whatever the document', () => {
    fc.assert(
      fc.property(fc.string(), fc.anything(), (token, doc) => {
        expect(() => compilePointer('/' + escape(token) + '/' + escape(token)).get(doc)).not.toThrow()
      })
    )
  })
})
