-- A node leaving the fleet for good (after its drain): its rooms, tokens and registration go
-- now rather than when they lapse. ARGV: me, instance (this process's id, heartbeat.lua).
-- Nothing is removed when another process holds the node id: that one's rooms and seats.
-- A heartbeat of the leaving process may still come after this (sent before, its answer timed
-- out while Redis stalled, and sent again, or run late): `left:<me>` names the instance that
-- left for a ttl, and heartbeat.lua lists it no more. A restarted node is another instance.
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
local ttl = tonumber(redis.call('HGET', node, 'ttl') or '') or 10000
if (ARGV[2] or '') ~= '' then
  redis.call('SET', P .. 'left:' .. me, ARGV[2], 'PX', ttl)
end
redis.call('DEL', node, node .. ':rooms', node .. ':tokens')
redis.call('ZREM', P .. 'nodes', me)
return 1
