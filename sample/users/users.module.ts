import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { MemoryUserState, UserState } from './user-state.js';
import { UsersService } from './users.service.js';

@Module({})
export class UsersModule {
  /** `state` replaces the in-memory user state (the Redis one when REDIS_URL is set). */
  static register(
    state: Provider = { provide: UserState, useClass: MemoryUserState },
  ): DynamicModule {
    return {
      module: UsersModule,
      global: true,
      providers: [state, UsersService],
      exports: [UsersService],
    };
  }
}
