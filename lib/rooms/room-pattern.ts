import { isReservedRoom, ROOM_NAME_MAX } from './room-name.js';

/** A room pattern made ready to match: `order:{id}` → `/^order:([^:]+)$/` and `['id']`. */
export interface RoomPattern {
  readonly pattern: string;
  readonly names: readonly string[];
  match(room: string): Readonly<Record<string, string>> | undefined;
}

/** Literal text of a pattern: the room name's characters. */
const LITERAL = /^[A-Za-z0-9:_.-]*$/;
/** A parameter's name: an identifier. */
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * Compiles a room pattern: literal text of the room name's character set and `{name}` parameters,
 * each matching one or more characters other than `:` and the character that follows it in the
 * pattern (in `{a}.{b}`, `a` holds no `.`). Throws at startup, naming the pattern's
 * fault, for anything else: two parameters side by side, a repeated name, a pattern of the
 * module's own rooms (`ws-ticket:*`), one longer than a room may be.
 */
export function compileRoomPattern(pattern: string, where: string): RoomPattern {
  const fail = (why: string) =>
    new Error(`Room pattern ${JSON.stringify(pattern)} (${where}) ${why}.`);
  if (typeof pattern !== 'string' || pattern === '') throw fail('is not a non-empty string');
  if (pattern.length > ROOM_NAME_MAX) throw fail(`is longer than ${ROOM_NAME_MAX} characters`);
  const parts = pattern.split(/(\{[^{}]*\})/).filter((part) => part !== '');
  const names: string[] = [];
  let source = '';
  parts.forEach((part, index) => {
    if (part.startsWith('{')) {
      const name = part.slice(1, -1);
      if (!NAME.test(name)) throw fail(`has a parameter name that is not an identifier: {${name}}`);
      if (names.includes(name)) throw fail(`names {${name}} twice`);
      const following = parts[index + 1];
      if (following?.startsWith('{'))
        throw fail('has two parameters side by side (put a separator)');
      names.push(name);
      // Never the character that ends it either: each parameter then stops at one place, and a
      // match takes linear time whatever a client sends (`([^:]+)\.` would backtrack).
      const stop = following?.[0];
      source += stop && stop !== ':' ? `([^:${escapeClass(stop)}]+)` : '([^:]+)';
    } else {
      if (!LITERAL.test(part)) {
        throw fail('has characters rooms never have (letters, digits and :_.- only)');
      }
      source += part.replace(/[.-]/g, '\\$&');
    }
  });
  const literal = parts.filter((part) => !part.startsWith('{')).join('');
  if (names.length === 0 && isReservedRoom(literal)) {
    throw fail("names a room no client may join (the module's own, or a socket id's shape)");
  }
  if (literal.startsWith('ws-ticket:')) throw fail("is under the module's prefix ws-ticket:");
  const regex = new RegExp(`^${source}$`);
  return {
    pattern,
    names,
    match(room) {
      const found = regex.exec(room);
      if (!found) return undefined;
      const params: Record<string, string> = Object.create(null);
      names.forEach((name, index) => {
        params[name] = found[index + 1] as string;
      });
      return Object.freeze(params);
    },
  };
}

/** A room character, escaped for a regular expression's character class. */
function escapeClass(character: string): string {
  return character === '-' ? '\\-' : character;
}
