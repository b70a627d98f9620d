// Lua scripts of RedisTicketStore, and the readers of their replies. Each script touches the one
// key it is given (KEYS[1]), so they run on Redis Cluster too; each runs atomically, in one round
// trip.

import { createHash } from 'node:crypto';
import type { TicketStoreConnectionSlot } from './ticket-store.js';

/** KEYS[1] owner set; ARGV ticket key, ttl (ms). The set lives as long as its longest ticket. */
export const ADD_TO_OWNER = `
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1`;

/** KEYS[1] counter; ARGV window (ms). Returns { count, ms until the window ends }. */
export const INCREMENT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return { count, ttl }`;

/** KEYS[1] generation; ARGV ttl (ms). Returns the generation (0 when unset), extending its life. */
export const READ_GENERATION = `
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return tonumber(value)`;

/** KEYS[1] generation; ARGV ttl (ms). Returns the new generation. */
export const BUMP_GENERATION = `
local value = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return value`;

/**
 * What the connection-set scripts share. A set is one sorted set per user:
 * - a live slot is `<16-digit µs of its first acquisition>:<id>` scored by its lease end (ms), so
 *   members sort by age and `ZCOUNT key (now +inf` counts the live ones;
 * - an evicted slot is `!`, the evicting id's length (4 digits) and that id, then the same member,
 *   scored by minus its lease end, until then.
 *
 * Time is Redis's (`TIME`), never an instance's, so instances' clocks may disagree. Each script
 * first forgets what ran out, slots (`0 < score <= now`) and marks (`-now <= score < 0`) in one
 * range, then reads the whole set (at most `limit` live slots and the marks of one lease) into
 * `slots` (id → slot) and `live` (the live slots).
 */
const CONNECTION_SET = `
local key = KEYS[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local micros = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local function decimal(n) return string.format('%.0f', n) end
redis.call('ZREMRANGEBYSCORE', key, decimal(-now), decimal(now))

local slots, live, newest, latest = {}, {}, 0, now
local entries = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
for i = 1, #entries, 2 do
  local member = entries[i]
  -- An eviction mark: '!', the evicting id's length (4 digits), that id, the evicted member.
  local evicted = string.sub(member, 1, 1) == '!'
  local by, aged = nil, member
  if evicted then
    local length = tonumber(string.sub(member, 2, 5)) or 0
    by = string.sub(member, 6, 5 + length)
    aged = string.sub(member, 6 + length)
  end
  local slot = {
    member = member, aged = aged, id = string.sub(aged, 18),
    age = tonumber(string.sub(aged, 1, 16)) or 0, score = tonumber(entries[i + 1]),
    evicted = evicted, by = by,
  }
  slots[slot.id] = slot
  if not evicted then live[#live + 1] = slot end
  latest = math.max(latest, math.abs(slot.score))
  if slot.age > newest then newest = slot.age end
end

-- A new live member for id, younger than every other one even if Redis's clock stepped back.
local function member(id)
  newest = math.max(micros, newest + 1)
  return string.format('%016.0f', newest) .. ':' .. id
end

-- The key lives until the last lease in it ends (live slots and marks alike): the latest end read,
-- or the lease this script just wrote.
local function expire(written)
  redis.call('PEXPIRE', key, decimal(math.max(latest, written) - now))
end
`;

/**
 * KEYS[1] connection set; ARGV id, limit, lease (ms), evictOldest ('1' or '0').
 * Returns { 1 or 0 (acquired), { evicted ids, oldest first } }.
 */
export const ACQUIRE_CONNECTION = `${CONNECTION_SET}
local id, limit, lease, evict = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local own = slots[id]
if own and not own.evicted then
  redis.call('ZADD', key, decimal(now + lease), own.member)
  expire(now + lease)
  return { 1, {} }
end
local evicted = {}
if #live >= limit then
  if not evict then return { 0, evicted } end
  table.sort(live, function(a, b) return a.age < b.age end)
  for i = 1, #live - limit + 1 do
    local slot = live[i]
    redis.call('ZREM', key, slot.member)
    redis.call('ZADD', key, decimal(-slot.score), '!' .. string.format('%04d', #id) .. id .. slot.member)
    evicted[i] = slot.id
  end
end
if own then redis.call('ZREM', key, own.member) end
redis.call('ZADD', key, decimal(now + lease), member(id))
expire(now + lease)
return { 1, evicted }`;

/**
 * KEYS[1] connection set; ARGV limit, lease (ms), id…. Returns the ids that lost their slot
 * (evicted, or run out with no room left).
 */
export const RENEW_CONNECTIONS = `${CONNECTION_SET}
local limit, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local ends = decimal(now + lease)
local holders, lost, wrote = #live, {}, false
for i = 3, #ARGV do
  local id = ARGV[i]
  local slot = slots[id]
  if slot and slot.evicted then
    redis.call('ZREM', key, slot.member)
    slots[id] = nil
    lost[#lost + 1] = id
  elseif slot then
    redis.call('ZADD', key, ends, slot.member)
    wrote = true
  elseif holders < limit then
    local added = member(id)
    redis.call('ZADD', key, ends, added)
    slots[id] = { member = added, evicted = false }
    holders = holders + 1
    wrote = true
  else
    lost[#lost + 1] = id
  end
end
if wrote then expire(now + lease) end
return lost`;

/** KEYS[1] connection set; ARGV id. Removes its live slot or its eviction mark. */
export const RELEASE_CONNECTION = `${CONNECTION_SET}
local slot = slots[ARGV[1]]
if slot then redis.call('ZREM', key, slot.member) end
return slot and 1 or 0`;

/**
 * KEYS[1] connection set; ARGV id. Undoes an unanswered acquisition: removes its live slot and
 * turns the youngest mark its acquisition made back into a live slot (same age, same lease end);
 * removes only its mark if it has no live slot.
 */
export const CANCEL_CONNECTION = `${CONNECTION_SET}
local id = ARGV[1]
local slot = slots[id]
if not slot then return 0 end
redis.call('ZREM', key, slot.member)
if slot.evicted then return 1 end
local restored = nil
for _, other in pairs(slots) do
  if other.evicted and other.by == id and (restored == nil or other.age > restored.age) then
    restored = other
  end
end
if restored then
  redis.call('ZREM', key, restored.member)
  redis.call('ZADD', key, decimal(-restored.score), restored.aged)
end
return 1`;

/** KEYS[1] connection set. Returns how many live slots it holds; writes nothing. */
export const COUNT_CONNECTIONS = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%.0f', now), '+inf')`;

/** Milliseconds as Redis takes them (`PX`, script arguments): a whole number, at least 1. */
export function milliseconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms)));
}

/** The reply of {@link ACQUIRE_CONNECTION}; anything else throws (`store_unavailable`). */
export function readSlot(reply: unknown): TicketStoreConnectionSlot {
  const [acquired, evicted] = Array.isArray(reply) && reply.length === 2 ? reply : [];
  if (acquired !== 0 && acquired !== 1) throw new Error('Unexpected reply to acquireConnection');
  return { acquired: acquired === 1, evicted: readIds(evicted) };
}

/** A script's array of ids (bulk strings); anything else throws (`store_unavailable`). */
export function readIds(reply: unknown): string[] {
  if (!Array.isArray(reply) || !reply.every((id) => typeof id === 'string')) {
    throw new Error('Unexpected reply to a connection-set script');
  }
  return reply;
}

const SHA1S = new Map<string, string>();

/** The SHA-1 Redis names a script by, computed once per script. */
export function sha1Of(script: string): string {
  let sha = SHA1S.get(script);
  if (sha === undefined) {
    sha = createHash('sha1').update(script).digest('hex');
    SHA1S.set(script, sha);
  }
  return sha;
}

/** SMEMBERS replies an array (RESP2) or a Set (RESP3 with a type mapping). */
export function strings(reply: unknown): string[] {
  const items = reply instanceof Set ? [...reply] : Array.isArray(reply) ? reply : [];
  return items.map(String);
}
