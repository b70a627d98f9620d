// Lua scripts of RedisTicketStore. Each touches the one key it is given (KEYS[1]), so they run on
// Redis Cluster too; each runs atomically, in one round trip.

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
