import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  checkOptionKeys,
  closest,
  EXTRA_KEYS,
  MODULE_OPTION_KEYS,
} from '../../lib/internal/option-keys.js';

const known = new Set([...MODULE_OPTION_KEYS, ...EXTRA_KEYS]);
/** Keys the module does not know (never a removed one, which has its own message). */
const unknownKey = fc
  .oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.constantFrom('toString', 'constructor'))
  .filter((key) => !known.has(key) && key !== '__proto__');
const someValidKeys = fc.subarray([...MODULE_OPTION_KEYS]);

describe('Option keys', () => {
  it('accepts any set of module options, in forRoot and from a factory', () => {
    fc.assert(
      fc.property(someValidKeys, (keys) => {
        const options = Object.fromEntries(keys.map((key) => [key, undefined]));
        checkOptionKeys(options, 'forRoot');
        checkOptionKeys(options, 'factory');
      }),
    );
  });

  it('refuses any unknown key beside valid ones, naming it and listing the valid keys', () => {
    fc.assert(
      fc.property(someValidKeys, unknownKey, (keys, key) => {
        const options = Object.fromEntries([...keys, key].map((name) => [name, 1]));
        for (const source of ['forRoot', 'factory'] as const) {
          assert.throws(
            () => checkOptionKeys(options, source),
            (error: Error) =>
              error.message.startsWith('WsTicketModule: unknown option') &&
              error.message.includes(`\`${key}\``) &&
              error.message.includes('Valid options: `jwt`'),
          );
        }
      }),
    );
  });

  it('suggests the option a one-letter typo of it meant', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...MODULE_OPTION_KEYS.filter((key) => key.length >= 6)),
        fc.nat(),
        (key, at) => {
          const i = at % key.length;
          const typo = `${key.slice(0, i)}${key.slice(i + 1)}`;
          assert.equal(closest(typo, MODULE_OPTION_KEYS), key);
        },
      ),
    );
  });

  it('refuses every static extra returned by a factory, saying where it goes', () => {
    for (const key of EXTRA_KEYS) {
      assert.throws(
        () => checkOptionKeys({ [key]: undefined }, 'factory'),
        new RegExp(`\`${key}\` was returned by the forRootAsync\\(\\) factory`),
      );
      checkOptionKeys({ [key]: undefined }, 'forRoot');
    }
  });
});
