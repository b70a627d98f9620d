/** What an adapter offers the rooms: its sockets' removals, its room messages, its membership. */
export interface RoomTransport {
  /**
   * Whether `removeFromRoom` and `emit` reach the other instances by themselves (Socket.IO on an
   * adapter with `serverSideEmit`); when not, the module's channel carries them.
   */
  readonly spansInstances: boolean;
  /** Takes the user's sockets out of the room (here, or everywhere when it spans); returns how many here. */
  removeFromRoom(userId: string, room: string, code: string): number;
  /** Sends to the room's members (here, or everywhere when it spans). */
  emit(room: string, event: string, data: unknown): void;
  /** Whether `client`, a socket of this transport, is in the room; `undefined`: not its socket. */
  has(client: unknown, room: string): boolean | undefined;
}
