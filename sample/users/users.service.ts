import { timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';

/** What the sample exposes of a user: never the password. */
export interface User {
  id: string;
  username: string;
}

interface StoredUser extends User {
  password: string;
  active: boolean;
}

/** In-memory users: alice, bob and carol, passwords `<name>-password`. */
@Injectable()
export class UsersService {
  private readonly users: StoredUser[] = ['alice', 'bob', 'carol'].map((username, i) => ({
    id: String(i + 1),
    username,
    password: `${username}-password`,
    active: true,
  }));

  /** The user with these credentials, or undefined. */
  verify(username: unknown, password: unknown): User | undefined {
    if (typeof username !== 'string' || typeof password !== 'string') return undefined;
    const user = this.users.find((u) => u.username === username);
    if (!user?.active || !sameString(user.password, password)) return undefined;
    return toPublic(user);
  }

  /** The active user with this id, or undefined (unknown or deactivated). */
  async findActive(id: unknown): Promise<User | undefined> {
    const user = this.users.find((u) => u.id === id);
    return user?.active ? toPublic(user) : undefined;
  }
}

function toPublic({ id, username }: StoredUser): User {
  return { id, username };
}

function sameString(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
