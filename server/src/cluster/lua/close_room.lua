-- Drops one room this node closed. ARGV: me, name. Returns 1 when it was listed as ours.
local me, name = ARGV[1], ARGV[2]
if redis.call('HGET', P .. 'room:' .. name, 'node') == me then
  forget_room(name, me)
  return 1
end
redis.call('SREM', P .. 'node:' .. me .. ':rooms', name)
return 0
