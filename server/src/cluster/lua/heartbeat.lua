-- Renews this node's registration and everything that expires with it.
--
-- ARGV: me, url, ttl_ms, draining ('1'/'0'), rooms, max_rooms, secret (kept only when the
-- fleet has none: the known secret when the node has one, so a Redis that lost its data gets
-- the fleet's secret back and nodes that have not beaten since go on trusting each other's
-- hops; otherwise the node's own candidate), settle_ms (when this node was registered before
-- and the directory has forgotten it, a Redis restart: it opens no new room for this long,
-- while the fleet writes its rooms back; 0 for a node registering the first time), known
-- secret (the fleet's secret as this node last read it, '' before its first heartbeat: the
-- secret never expires, so finding it gone or another means Redis lost its data, and then no
-- node of the fleet opens a new room for settle_ms, one starting for the first time included;
-- a node forgotten within three ttls of the first node's return came back from that loss too,
-- the first node back having restored the secret, and holds the fleet back for settle_ms from
-- its own return: `restored` marks the loss for that long, since a settle shorter than some
-- node's way back would otherwise end before that node's rooms are written back).
-- ARGV[10], instance: this process's own random id. A live registration of the node id under
-- another instance is another process's: a previous run of this node that died less than a
-- ttl ago (it renews nothing, and lapses), or another live server given the same node id
-- (it renews). Either way it is not overwritten: the error names that process's last renewal
-- (`beat`), and the caller tells the two apart by whether it changes.
-- ARGV[11], join: the prints of the join keys this node checks tokens with, comma separated
-- (`none` without tokens), for the other nodes to compare with theirs.
-- ARGV[12], audience_rooms, and ARGV[13], audience_max: the rooms this node hosts that hold
-- spectators and no players, and how many it takes (join.lua opens a spectator's room only on
-- a node below it). Written with `audience_beat`, this renewal's `beat`: a node rolled back to
-- a release before them renews `beat` alone, and join.lua then holds it to no stale limit.
-- ARGV[14], protocol, and ARGV[15], release: the protocol version this node's clients speak and
-- its release (join.lua keeps joins on nodes of the joiner's protocol while a fleet upgrades
-- across a protocol version; /nodes shows both).
-- Returns {registered before (1/0), the fleet's secret, {url of every live node},
-- {id, join} of every other live node (join '' for a node of a release before it)}, or the
-- error TICKWIRE_DUPLICATE <beat of the other process>, or TICKWIRE_LEFT when this instance
-- left the fleet (deregister.lua) and the heartbeat came late.
local me, url, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local instance = ARGV[10] or ''
local now = now_ms()
local node = P .. 'node:' .. me
if instance ~= '' and redis.call('GET', P .. 'left:' .. me) == instance then
  return redis.error_reply('TICKWIRE_LEFT this process left the fleet')
end
local holder = redis.call('HGET', node, 'instance')
if instance ~= '' and holder and holder ~= instance and live(me, now) then
  return redis.error_reply('TICKWIRE_DUPLICATE ' .. (redis.call('HGET', node, 'beat') or '0') ..
    ' another process is registered under this node id')
end
local registered = redis.call('EXISTS', node)
redis.call('HSET', node, 'url', url, 'ttl', ttl, 'draining', ARGV[4], 'rooms', ARGV[5],
  'max_rooms', ARGV[6], 'instance', instance, 'beat', now, 'join', ARGV[11] or '',
  'audience_rooms', ARGV[12] or '0', 'audience_max', ARGV[13] or '', 'audience_beat', now,
  'protocol', ARGV[14] or '', 'release', ARGV[15] or '')
local settle_ms = tonumber(ARGV[8]) or 0
if registered == 0 and settle_ms > 0 then
  redis.call('HSET', node, 'settle_until', now + settle_ms)
  local known = ARGV[9] or ''
  local settling = redis.call('PTTL', P .. 'settle')
  local lost = known ~= '' and redis.call('GET', P .. 'secret') ~= known
  if lost then
    redis.call('SET', P .. 'restored', '1', 'PX', 3 * ttl)
  end
  if known ~= '' and (lost or redis.call('EXISTS', P .. 'restored') == 1)
      and settling < settle_ms then
    redis.call('SET', P .. 'settle', '1', 'PX', settle_ms)
  end
end
redis.call('PEXPIRE', node, ttl)
redis.call('ZADD', P .. 'nodes', now + ttl, me)
redis.call('ZREMRANGEBYSCORE', P .. 'nodes', '-inf', now)
redis.call('PEXPIRE', node .. ':tokens', ttl)
redis.call('PEXPIRE', node .. ':rooms', ttl)
for _, room in ipairs(redis.call('SMEMBERS', node .. ':rooms')) do
  redis.call('PEXPIRE', P .. 'room:' .. room, ttl)
  -- Lapsed promises, and draining, show in matchmaking from here.
  reindex(room, now)
end
redis.call('SET', P .. 'secret', ARGV[7], 'NX')
local urls, joins = {}, {}
for _, peer in ipairs(redis.call('ZRANGEBYSCORE', P .. 'nodes', '(' .. now, '+inf')) do
  urls[#urls + 1] = node_url(peer)
  if peer ~= me then
    joins[#joins + 1] = { peer, redis.call('HGET', P .. 'node:' .. peer, 'join') or '' }
  end
end
return { registered, redis.call('GET', P .. 'secret'), urls, joins }
