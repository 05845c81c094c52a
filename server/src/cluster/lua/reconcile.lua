-- Drops the rooms listed under this node that it no longer hosts: closed while Redis was
-- away, or opened for it by another node's join that never arrived (after a grace).
--
-- ARGV: me, grace_ms, then the names of the rooms this node hosts.
-- Returns how many were dropped.
local me, grace = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local hosted = {}
for i = 3, #ARGV do
  hosted[ARGV[i]] = true
end
local dropped = 0
for _, room in ipairs(redis.call('SMEMBERS', P .. 'node:' .. me .. ':rooms')) do
  if not hosted[room] then
    local h = redis.call('HMGET', P .. 'room:' .. room, 'node', 'created')
    if h[1] == me then
      if tonumber(h[2] or '0') + grace < now then
        forget_room(room, me)
        dropped = dropped + 1
      end
    else
      redis.call('SREM', P .. 'node:' .. me .. ':rooms', room)
    end
  end
end
return dropped
