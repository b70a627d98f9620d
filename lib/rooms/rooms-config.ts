import { numberHint, optionObject, positive, received } from '../internal/options.js';
import type { RoomLimits } from './room-joins.js';
import type { RoomRules } from './room-rules.js';
import type { WsTicketRoomOptions } from './rooms.options.js';

/** Default of `maxRoomsPerSocket`. */
export const DEFAULT_MAX_ROOMS_PER_SOCKET = 100;
/** Default of `roomJoinLimit`: attempts per window. */
export const DEFAULT_ROOM_JOIN_LIMIT = 50;
/** Default of `roomJoinLimit`: the window, in seconds. */
export const DEFAULT_ROOM_JOIN_WINDOW = 10;

/** The room bounds from the module options; throws at startup naming a wrong one. */
export function roomLimits(options: WsTicketRoomOptions): RoomLimits {
  const joinLimit = optionObject(
    options.roomJoinLimit,
    'roomJoinLimit',
    '{ limit: 50, window: 10 }',
  );
  return {
    maxRooms: wholeNumber(
      options.maxRoomsPerSocket ?? DEFAULT_MAX_ROOMS_PER_SOCKET,
      'maxRoomsPerSocket',
      'rooms',
      DEFAULT_MAX_ROOMS_PER_SOCKET,
    ),
    joinLimit: wholeNumber(
      joinLimit?.limit ?? DEFAULT_ROOM_JOIN_LIMIT,
      'roomJoinLimit.limit',
      'attempts',
      DEFAULT_ROOM_JOIN_LIMIT,
    ),
    joinWindow:
      positive(
        joinLimit?.window ?? DEFAULT_ROOM_JOIN_WINDOW,
        'roomJoinLimit.window',
        'seconds',
        DEFAULT_ROOM_JOIN_WINDOW,
      ) * 1000,
  };
}

/** Adds the `rooms` option's rules; throws at startup naming a wrong entry. */
export function addOptionRules(rules: RoomRules, option: unknown): void {
  if (option === undefined) return;
  if (typeof option !== 'object' || option === null || Array.isArray(option)) {
    throw new Error(
      `WsTicketModule: \`rooms\` must be an object of rules by room pattern (e.g. { lobby: true }); received ${received(option)}.`,
    );
  }
  for (const [pattern, rule] of Object.entries(option)) {
    const where = `rooms[${JSON.stringify(pattern)}]`;
    if (rule === true) rules.add(pattern, () => true, where);
    else if (typeof rule === 'function') rules.add(pattern, rule, where);
    else {
      throw new Error(
        `WsTicketModule: \`${where}\` must be true or a function (user, params, context) => boolean; received ${received(rule)}.`,
      );
    }
  }
}

function wholeNumber(value: unknown, name: string, unit: string, example: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new Error(
      `WsTicketModule: \`${name}\` must be a whole number of ${unit}, at least 1 (e.g. ${example}); received ${received(value)}${numberHint(value)}.`,
    );
  }
  return value;
}
