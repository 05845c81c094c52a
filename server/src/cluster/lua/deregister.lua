-- A node leaving the fleet for good (after its drain): its rooms, tokens and registration go
-- now rather than when they lapse. ARGV: me, instance (this process's id, heartbeat.lua).
-- Nothing is removed when another process holds the node id: that one's rooms and seats.
local me = ARGV[1]
local node = P .. 'node:' .. me
local holder = redis.call('HGET', node, 'instance')
if holder and holder ~= (ARGV[2] or '') then
  return 0
end
for _, room in ipairs(redis.call('SMEMBERS', node .. ':rooms')) do
  if redis.call('HGET', P .. 'room:' .. room, 'node') == me then
    forget_room(room, me)
  end
end
redis.call('DEL', node, node .. ':rooms', node .. ':tokens')
redis.call('ZREM', P .. 'nodes', me)
return 1
