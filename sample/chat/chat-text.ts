/** Longest chat text, in UTF-16 code units (`text.length`), on both transports. */
export const MAX_TEXT = 2000;

/** What a refusal of a text says. */
export const TEXT_RULE = `text must be 1-${MAX_TEXT} characters`;

/** What a refusal of a room message from outside the room says. */
export const ROOM_RULE = 'Only members of a room may send to it: join it first (ws-ticket:join).';

/** Whether `text` may be sent: a string of 1 to {@link MAX_TEXT} characters, not only blanks. */
export function isChatText(text: unknown): text is string {
  return typeof text === 'string' && text.trim() !== '' && text.length <= MAX_TEXT;
}
