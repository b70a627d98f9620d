import { withTimeout } from '../internal/with-timeout.js';
import { WsTicketErrorCode } from '../ws-ticket.errors.js';
import { compileRoomPattern, type RoomPattern } from './room-pattern.js';
import type { WsTicketRoomContext, WsTicketRoomRule } from './rooms.types.js';

/** One rule, where it was declared (for startup errors and logs), and its pattern. */
interface Rule {
  readonly pattern: RoomPattern;
  readonly where: string;
  readonly decide: WsTicketRoomRule;
}

/** A rule's verdict on one room. */
export type RoomVerdict =
  | { ok: true }
  | {
      ok: false;
      code: typeof WsTicketErrorCode.ROOM_FORBIDDEN | typeof WsTicketErrorCode.ROOM_UNAVAILABLE;
    };

/** Where the rules' failures go (the module's throttled log). */
export interface RoomRulesLog {
  /** A rule threw (logged with its stack, never its arguments). */
  failure(what: string, error: unknown): void;
  /** A refusal, by code. */
  refusal(code: WsTicketErrorCode): void;
}

class RuleTimeout extends Error {}

const ADMITTED: RoomVerdict = { ok: true };
const FORBIDDEN: RoomVerdict = { ok: false, code: WsTicketErrorCode.ROOM_FORBIDDEN };
const UNAVAILABLE: RoomVerdict = { ok: false, code: WsTicketErrorCode.ROOM_UNAVAILABLE };

/**
 * The app's room rules, from the `rooms` option and `@WsTicketRoom()` methods: deny by default
 * (a room no rule matches is forbidden), every matching rule must answer `true`, each within
 * `callbackTimeout`; a rule that throws forbids (fail closed) and is logged.
 */
export class RoomRules {
  private readonly rules: Rule[] = [];

  constructor(
    private readonly timeout: number,
    private readonly log: RoomRulesLog,
  ) {}

  /** How many rules there are. */
  get size(): number {
    return this.rules.length;
  }

  /**
   * Adds a rule; throws at startup for a bad pattern, or a pattern that already has a rule (two
   * rules for one pattern are a mistake, not a policy: write one that checks both).
   */
  add(pattern: string, decide: WsTicketRoomRule, where: string): void {
    const compiled = compileRoomPattern(pattern, where);
    const twin = this.rules.find((rule) => rule.pattern.pattern === pattern);
    if (twin) {
      throw new Error(
        `Room pattern ${JSON.stringify(pattern)} has two rules (${twin.where} and ${where}): ` +
          'keep one rule per pattern.',
      );
    }
    this.rules.push({ pattern: compiled, where, decide });
  }

  /** Decides whether `user` may be in `context.room` (already a well-formed, unreserved name). */
  async decide(user: unknown, context: WsTicketRoomContext): Promise<RoomVerdict> {
    const matching: Array<{ rule: Rule; params: Readonly<Record<string, string>> }> = [];
    for (const rule of this.rules) {
      const params = rule.pattern.match(context.room);
      if (params) matching.push({ rule, params });
    }
    if (matching.length === 0) {
      this.log.refusal(WsTicketErrorCode.ROOM_FORBIDDEN);
      return FORBIDDEN;
    }
    const verdicts = await Promise.all(
      matching.map(({ rule, params }) => this.ask(rule, user, params, context)),
    );
    const refused = verdicts.find((verdict) => !verdict.ok);
    if (refused) {
      if (!refused.ok) this.log.refusal(refused.code);
      return refused;
    }
    return ADMITTED;
  }

  private async ask(
    rule: Rule,
    user: unknown,
    params: Readonly<Record<string, string>>,
    context: WsTicketRoomContext,
  ): Promise<RoomVerdict> {
    try {
      const answer = await withTimeout(
        () => rule.decide(user, params, context),
        this.timeout,
        () => new RuleTimeout(),
      );
      return answer === true ? ADMITTED : FORBIDDEN;
    } catch (error) {
      if (error instanceof RuleTimeout) return UNAVAILABLE;
      this.log.failure(`Room rule ${rule.where} threw (answered room_forbidden)`, error);
      return FORBIDDEN;
    }
  }
}
