-- A node leaving the fleet for good (after its drain): its rooms, tokens and registration go
-- now rather than when they lapse. ARGV: me.
local me = ARGV[1]
local node = P .. 'node:' .. me
for _, room in ipairs(redis.call('SMEMBERS', node .. ':rooms')) do
  if redis.call('HGET', P .. 'room:' .. room, 'node') == me then
    forget_room(room, me)
  end
end
redis.call('DEL', node, node .. ':rooms', node .. ':tokens')
redis.call('ZREM', P .. 'nodes', me)
return 1
