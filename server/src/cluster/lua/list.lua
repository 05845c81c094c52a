-- The fleet: every live room and every live node.
-- Returns {rooms, nodes}: rooms as {name, node, players, spectators, controllers, capacity,
-- tick} each, nodes as {id, url, draining, rooms, join, protocol, release} each (join: the
-- prints of the node's join keys; each '' for a node of a release before it).
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', P .. 'nodes', '-inf', now)
local rooms = {}
for _, room in ipairs(redis.call('SMEMBERS', P .. 'rooms')) do
  local owner = owner_of(room, now)
  if owner then
    local h = redis.call('HMGET', P .. 'room:' .. room, 'players', 'spectators', 'controllers',
      'capacity', 'tick')
    rooms[#rooms + 1] = { room, owner, h[1] or '0', h[2] or '0', h[3] or '0', h[4] or '0',
      h[5] or '0' }
  end
end
local nodes = {}
for _, node in ipairs(redis.call('ZRANGEBYSCORE', P .. 'nodes', '(' .. now, '+inf')) do
  local h = redis.call('HMGET', P .. 'node:' .. node, 'url', 'draining', 'rooms', 'join',
    'protocol', 'release')
  nodes[#nodes + 1] = { node, h[1] or '', h[2] or '0', h[3] or '0', h[4] or '', h[5] or '',
    h[6] or '' }
end
return { rooms, nodes }
