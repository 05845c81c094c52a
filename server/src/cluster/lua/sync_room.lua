-- Writes one of this node's rooms: its counts, and the promises its joiners took up (seated,
-- so now counted in `players`), in one step so the room never looks emptier or fuller than it
-- is. Registers the room again when the directory lost it (a Redis restart, a lapse).
--
-- ARGV: me, ttl_ms, name, players, spectators, controllers, capacity, max_spectators, tick,
-- then the promise ids taken up.
-- Returns 1, or 0 when another live node holds the name (the room stays unlisted).
local me, ttl, name = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local key = P .. 'room:' .. name
local now = now_ms()
local owner = redis.call('HGET', key, 'node')
if owner and owner ~= me then
  if live(owner, now) then
    return 0
  end
  forget_room(name, owner)
  owner = nil
end
if not owner then
  redis.call('HSET', key, 'node', me, 'created', now)
  redis.call('SADD', P .. 'rooms', name)
  redis.call('SADD', P .. 'node:' .. me .. ':rooms', name)
  redis.call('PEXPIRE', P .. 'node:' .. me .. ':rooms', ttl)
end
redis.call('HSET', key, 'players', ARGV[4], 'spectators', ARGV[5], 'controllers', ARGV[6],
  'capacity', ARGV[7], 'max_spectators', ARGV[8], 'tick', ARGV[9])
redis.call('PEXPIRE', key, ttl)
for i = 10, #ARGV do
  redis.call('ZREM', key .. ':resv', ARGV[i])
  redis.call('ZREM', key .. ':resv_s', ARGV[i])
end
reindex(name, now)
return 1
