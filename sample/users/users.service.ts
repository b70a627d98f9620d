import { timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { UserState } from './user-state.js';

/** What the sample exposes of a user: never the password. */
export interface User {
  id: string;
  username: string;
}

interface Account extends User {
  password: string;
}

/** Claims the sample puts in its access tokens. */
export interface SessionClaims {
  sub?: unknown;
  /** Session version at login: a logout-all bumps it, which invalidates every older token. */
  sv?: unknown;
}

/** In-memory accounts alice, bob and carol (passwords `<name>-password`) with mutable state. */
@Injectable()
export class UsersService {
  private readonly accounts: Account[] = ['alice', 'bob', 'carol'].map((username, i) => ({
    id: String(i + 1),
    username,
    password: `${username}-password`,
  }));

  constructor(private readonly state: UserState) {}

  /** The active user with these credentials, or undefined. */
  async verify(username: unknown, password: unknown): Promise<User | undefined> {
    if (typeof username !== 'string' || typeof password !== 'string') return undefined;
    const account = this.accounts.find((a) => a.username === username);
    if (!account || !sameString(account.password, password)) return undefined;
    return (await this.state.isActive(account.id)) ? toPublic(account) : undefined;
  }

  /**
   * Claims for a new access token of this user: of their current session, or of the session
   * version `sv` (a refresh stays in the session it was asked for, even if a logout-all just ended
   * it: the new token is then refused like the old one).
   */
  async sessionClaims(
    user: User,
    sv?: number,
  ): Promise<{ sub: string; username: string; sv: number }> {
    return {
      sub: user.id,
      username: user.username,
      sv: sv ?? (await this.state.sessionVersion(user.id)),
    };
  }

  /**
   * The user behind a token's claims, or undefined when the user is unknown, deactivated, or the
   * token predates their last logout-all.
   */
  async findBySession(claims: SessionClaims): Promise<User | undefined> {
    const account = this.accounts.find((a) => a.id === claims.sub);
    if (!account || !(await this.state.isActive(account.id))) return undefined;
    if (claims.sv !== (await this.state.sessionVersion(account.id))) return undefined;
    return toPublic(account);
  }

  /**
   * The active user with this id, or undefined when the id is unknown or the user deactivated. For
   * identity provider tokens, which carry no session version: their sessions end at the provider.
   */
  async findActive(id: unknown): Promise<User | undefined> {
    const account = this.accounts.find((a) => a.id === id);
    if (!account || !(await this.state.isActive(account.id))) return undefined;
    return toPublic(account);
  }

  /**
   * The user with this username, active or not, or undefined. For naming another user (sharing an
   * order with them): never a sign-in.
   */
  findByUsername(username: string): User | undefined {
    const account = this.accounts.find((a) => a.username === username);
    return account && toPublic(account);
  }

  /** Invalidates every token issued to the user so far. */
  async logoutAll(id: string): Promise<void> {
    await this.state.bumpSessionVersion(id);
  }

  async deactivate(id: string): Promise<void> {
    await this.state.deactivate(id);
  }
}

function toPublic({ id, username }: Account): User {
  return { id, username };
}

function sameString(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
