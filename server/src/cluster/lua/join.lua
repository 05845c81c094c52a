-- Where a joiner goes, and a seat promised to it there, in one atomic step: concurrent joins
-- through any number of nodes see each other's promises, so a room is never chosen past its
-- capacity, and a room name is claimed by exactly one node.
--
-- ARGV: me, mode ('named' or 'any'), name (named only), spectating ('1'/'0'), may_host ('1'
-- when this node may open another room), capacity, max_spectators, promise_ms, promise_id,
-- draining ('1' when this node drains: matchmaking skips its rooms even before its heartbeat
-- says so), audience_full ('1' when this node holds as many rooms with spectators and no
-- players as it takes: a spectator's join opens no room here), protocol (the protocol version
-- this node's clients speak, and so the joiner's), then any number of suspects:
-- nodes this node could not reach lately (their registration has not lapsed yet: a node that
-- died is listed for up to its ttl).
-- Matchmaking skips a suspect's rooms and no new room is opened on one; a named room hosted by
-- one is still answered (it lives there: the caller tries the node again, and an answer
-- clears the suspicion).
-- While a fleet upgrades across a protocol version, nodes of the other version are passed over
-- alike, for good: the joiner could not play on them. A named room one hosts is still answered
-- (the caller tells the joiner the room runs on a server of another release).
-- Returns {room, node, node_url, created (1/0)} or an error reply: TICKWIRE_NO_HOST when every
-- node is at its room limit or draining, TICKWIRE_SETTLING when no node may open a room for a
-- few seconds, TICKWIRE_UNREACHABLE when only suspects could, TICKWIRE_AUDIENCE when a
-- spectator's join would open a room and every node that could holds as many audience-only
-- rooms as it takes (see host_for_new_room).
local me, mode, name = ARGV[1], ARGV[2], ARGV[3]
local spectating = ARGV[4] == '1'
local may_host = ARGV[5] == '1'
local capacity, max_spectators = tonumber(ARGV[6]), tonumber(ARGV[7])
local promise_ms, promise_id = tonumber(ARGV[8]), ARGV[9]
local me_draining = ARGV[10] == '1'
local me_audience_full = ARGV[11] == '1'
local protocol = ARGV[12] or ''
local suspect = {}
for i = 13, #ARGV do
  suspect[ARGV[i]] = true
end

-- Whether `node` speaks another protocol than the joiner. A node of a release before the
-- field was written is taken to speak the joiner's (it refuses the Hello otherwise, and the
-- caller says so).
local function speaks_other(node)
  local theirs = redis.call('HGET', P .. 'node:' .. node, 'protocol')
  return theirs ~= false and theirs ~= nil and theirs ~= '' and theirs ~= protocol
end
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', P .. 'nodes', '-inf', now)

local function answer(room, node, created)
  local key = P .. 'room:' .. room .. (spectating and ':resv_s' or ':resv')
  redis.call('ZADD', key, now + promise_ms, promise_id)
  redis.call('PEXPIRE', key, promise_ms * 2)
  reindex(room, now)
  return { room, node, node_url(node), created and 1 or 0 }
end

-- The node that opens a new room: this one when it may, else the live node that is not
-- draining and has the fewest rooms below its limit. A node the directory does not list
-- (its registration lapsed, or Redis restarted empty) opens none: a room missing from the
-- directory may then be running on a node that has not written it back yet.
-- A node back after the directory forgot it (heartbeat.lua's settle_until) opens none either,
-- for that period, and after Redis lost its data (heartbeat.lua's `settle`) no node does.
local function settling(node)
  return (tonumber(redis.call('HGET', P .. 'node:' .. node, 'settle_until') or '0') or 0) > now
end

-- Whether `node` holds as many rooms with spectators and no players as it takes, by what its
-- last heartbeat wrote and the rooms opened for spectators since (none held to a limit that
-- its last heartbeat did not write: a node of a release before the limit, or rolled back).
local function audience_full(node)
  local h = redis.call('HMGET', P .. 'node:' .. node, 'audience_rooms', 'audience_max',
    'audience_beat', 'beat')
  local max = tonumber(h[2] or '')
  if not max or h[3] ~= h[4] then
    return false
  end
  return (tonumber(h[1] or '0') or 0) >= max
end

-- A spectator's join opens a room only on a node holding fewer rooms with spectators and no
-- players than it takes (each node's heartbeat writes both; a room opened here for a spectator
-- counts until the next one): a few addresses' spectators naming rooms of their own would
-- otherwise hold every room of the fleet, and no new match could start.
-- Returns the host, or nil and why none: 'settling' when a node below its limit is held back
-- only for a few seconds (the settle periods above, or this node not listed: a heartbeat lists
-- it again), 'unreachable' when only suspects are below their limits, 'audience' when the rest
-- are at their limits of audience-only rooms, 'full' when every node is at its limit or
-- draining.
local function host_for_new_room()
  if redis.call('EXISTS', P .. 'settle') == 1 then
    return nil, 'settling'
  end
  local held_back, avoided, audience = false, false, false
  if may_host then
    -- Its own count too: concurrent joins through this node each counted its rooms before any
    -- of theirs opened.
    if spectating and (me_audience_full or audience_full(me)) then
      audience = true
    elseif live(me, now) and not settling(me) then
      return me
    else
      held_back = true
    end
  end
  local best, best_rooms = nil, nil
  for _, node in ipairs(redis.call('ZRANGEBYSCORE', P .. 'nodes', '(' .. now, '+inf')) do
    if node ~= me then
      local h = redis.call('HMGET', P .. 'node:' .. node, 'draining', 'rooms', 'max_rooms',
        'settle_until')
      local rooms, max = tonumber(h[2] or '0') or 0, tonumber(h[3] or '0') or 0
      local settles = (tonumber(h[4] or '0') or 0) > now
      if h[1] ~= '1' and rooms < max and not speaks_other(node) then
        if spectating and audience_full(node) then
          audience = true
        elseif settles then
          held_back = true
        elseif suspect[node] then
          avoided = true
        elseif best == nil or rooms < best_rooms then
          best, best_rooms = node, rooms
        end
      end
    end
  end
  if best then
    return best
  end
  if held_back then
    return nil, 'settling'
  end
  if avoided then
    return nil, 'unreachable'
  end
  return nil, audience and 'audience' or 'full'
end

local function open_room(room)
  local host, none = host_for_new_room()
  if not host then
    if none == 'settling' then
      return redis.error_reply('TICKWIRE_SETTLING no node may open a room while the fleet ' ..
        'writes its rooms back')
    end
    if none == 'unreachable' then
      return redis.error_reply('TICKWIRE_UNREACHABLE only nodes this one cannot reach can ' ..
        'open another room')
    end
    if none == 'audience' then
      return redis.error_reply('TICKWIRE_AUDIENCE every node that could open a room holds as ' ..
        'many rooms without players as it takes')
    end
    return redis.error_reply('TICKWIRE_NO_HOST no node of the fleet can open another room')
  end
  local ttl = tonumber(redis.call('HGET', P .. 'node:' .. host, 'ttl') or '10000') or 10000
  local key = P .. 'room:' .. room
  redis.call('HSET', key, 'node', host, 'players', 0, 'spectators', 0, 'controllers', 0,
    'capacity', capacity, 'max_spectators', max_spectators, 'tick', 0, 'created', now)
  redis.call('PEXPIRE', key, ttl)
  redis.call('SADD', P .. 'rooms', room)
  redis.call('SADD', P .. 'node:' .. host .. ':rooms', room)
  redis.call('HINCRBY', P .. 'node:' .. host, 'rooms', 1)
  if spectating then
    redis.call('HINCRBY', P .. 'node:' .. host, 'audience_rooms', 1)
  end
  return answer(room, host, true)
end

if mode == 'named' then
  local owner = owner_of(name, now)
  if owner then
    return answer(name, owner, false)
  end
  return open_room(name)
end

-- Matchmaking: the fullest room with a seat nobody was promised (spectators: the room with
-- the most players among those that take one more spectator); among equals this node's own
-- rooms (no proxy hop), then the first name. The index holds only rooms that take one more,
-- by fill, so this reads its top, not every room; an entry found stale (a node gone, a
-- promise lapsed) is corrected and the top read again, a bounded number of times. Rooms
-- passed over where they are (a suspect's, this draining node's) stay in the index, ahead of
-- the rest: the next reading starts past them.
local index = P .. (spectating and 'watch' or 'open')
local TOP = 16
-- A reading passed over whole (a crashed node's rooms at the top of the index) costs no turn:
-- the turns bound the stale entries corrected, and a join must reach the rooms past a
-- suspect's rather than open a room of its own for each player. Passing over is bounded too.
local SKIP_MAX = 512
local skip = 0
local readings = 0
while readings < 4 do
  local top = redis.call('ZREVRANGE', index, skip, skip + TOP - 1)
  if #top == 0 then
    break
  end
  local passed_over = 0
  local best, best_owner, best_fill, best_here = nil, nil, -1, 0
  for _, room in ipairs(top) do
    local owner = owner_of(room, now)
    if owner and (suspect[owner] or (me_draining and owner == me) or speaks_other(owner)) then
      skip = skip + 1
      passed_over = passed_over + 1
    elseif owner then
      reindex(room, now)
      local fill = redis.call('ZSCORE', index, room)
      if fill then
        fill = tonumber(fill)
        local here = (owner == me) and 1 or 0
        if fill > best_fill or (fill == best_fill and (here > best_here
            or (here == best_here and room < best))) then
          best, best_owner, best_fill, best_here = room, owner, fill, here
        end
      end
    end
  end
  if best then
    return answer(best, best_owner, false)
  end
  if passed_over < #top or skip >= SKIP_MAX then
    readings = readings + 1
  end
end
local room
repeat
  room = 'arena-' .. redis.call('INCR', P .. 'seq')
until redis.call('EXISTS', P .. 'room:' .. room) == 0
return open_room(room)
