// The Redis store's changes, each one Lua script: the check, the write, a
// version bump and the PUBLISH happen at once, so every gateway sees the
// changes in one order, numbered (a gap means a message was missed).
// KEYS: consumers hash, keys hash, last-used hash, version counter.
// ARGV[1]: the change channel. Negative answers are refusals (REFUSALS).
import type { Refusal } from './records.js';

export const REFUSALS: Readonly<Record<number, Refusal>> = { [-1]: 'consumer-exists', [-2]: 'no-consumer', [-3]: 'no-key', [-4]: 'key-exists' };

const PUBLISH = `
local function publish(change)
  local v = redis.call('INCR', KEYS[4])
  redis.call('PUBLISH', ARGV[1], '{"v":' .. v .. ',"c":' .. change .. '}')
  return v
end
`;

/** ARGV: channel, name, consumer JSON, change JSON. */
export const CREATE_CONSUMER = `${PUBLISH}
if redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[3]) == 0 then return -1 end
return publish(ARGV[4])`;

/** ARGV: channel, name, change JSON. The consumer's keys go with it. */
export const DELETE_CONSUMER = `${PUBLISH}
if redis.call('HDEL', KEYS[1], ARGV[2]) == 0 then return -2 end
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local ok, k = pcall(cjson.decode, all[i + 1])
  if ok and type(k) == 'table' and k.consumer == ARGV[2] then
    redis.call('HDEL', KEYS[2], all[i])
    redis.call('HDEL', KEYS[3], all[i])
  end
end
return publish(ARGV[3])`;

/** ARGV: channel, consumer, key id, key JSON, change JSON. */
export const ADD_KEY = `${PUBLISH}
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return -2 end
if redis.call('HSETNX', KEYS[2], ARGV[3], ARGV[4]) == 0 then return -4 end
return publish(ARGV[5])`;

/**
 * ARGV: channel, consumer, old id, grace end (ms), new id, new key JSON.
 * Answers {version, the old key's JSON as rewritten}. Millisecond times have
 * 13 digits: cjson's 14-digit number format keeps them exact.
 */
export const ROTATE_KEY = `${PUBLISH}
local raw = redis.call('HGET', KEYS[2], ARGV[3])
if not raw then return -3 end
local old = cjson.decode(raw)
if old.consumer ~= ARGV[2] then return -3 end
if redis.call('HEXISTS', KEYS[2], ARGV[5]) == 1 then return -4 end
local grace = tonumber(ARGV[4])
if old.expiresAt == cjson.null or old.expiresAt > grace then old.expiresAt = grace end
old.replacedBy = ARGV[5]
local oldJson = cjson.encode(old)
redis.call('HSET', KEYS[2], ARGV[3], oldJson)
redis.call('HSET', KEYS[2], ARGV[5], ARGV[6])
return {publish('{"op":"rotate","old":' .. oldJson .. ',"key":' .. ARGV[6] .. '}'), oldJson}`;

/** ARGV: channel, consumer, key id, change JSON. */
export const DELETE_KEY = `${PUBLISH}
local raw = redis.call('HGET', KEYS[2], ARGV[3])
if not raw then return -3 end
local ok, k = pcall(cjson.decode, raw)
if ok and type(k) == 'table' and k.consumer ~= ARGV[2] then return -3 end
redis.call('HDEL', KEYS[2], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[3])
return publish(ARGV[4])`;

/** KEYS[1]: last-used hash, KEYS[2]: keys hash. ARGV: id, ms, id, ms, ... (a later time wins; removed keys are skipped). */
export const MARK_USED = `
for i = 1, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then
    local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
    if tonumber(ARGV[i + 1]) > cur then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  end
end
return 0`;
