-- Shared by every script of the room directory (prepended to each; see directory.rs).
--
-- Keys, all under `tickwire:`:
--   nodes                  zset   node id -> when its registration lapses (ms, Redis clock)
--   node:<id>              hash   url, ttl, draining, rooms, max_rooms, settle_until,
--                                 instance (the registered process's random id), beat (its
--                                 last renewal, ms), join (its join keys' prints),
--                                 audience_rooms, audience_max (rooms with spectators and no
--                                 players, and how many it takes), audience_beat (the `beat`
--                                 that wrote them), protocol and release (the protocol
--                                 version its clients speak, its release) (expires with the
--                                 node)
--   node:<id>:rooms        set    names of the rooms it hosts
--   node:<id>:tokens       hash   resume token (hex) -> room name
--   rooms                  set    every room name (stale names are dropped when seen)
--   room:<name>            hash   node, players, spectators, controllers, capacity,
--                                 max_spectators, tick, created (expires with its node)
--   room:<name>:resv       zset   seats promised to joiners on their way -> expiry (ms)
--   room:<name>:resv_s     zset   the same for spectators
--   open                   zset   rooms that take one more player -> seats filled or promised
--   watch                  zset   rooms that take one more spectator -> the same score
--                                 (both hold only rooms of live nodes that are not draining;
--                                 matchmaking reads their top instead of every room)
--   left:<id>              string the instance of node <id> that left the fleet (for a ttl:
--                                 its late heartbeats list it no more)
--   seq                    int    numbers the rooms matchmaking opens (arena-<n>)
--   secret                 string proves a proxied connection comes from a node of the fleet
--   settle                 string present (with an expiry) while the fleet writes its rooms
--                                 back after Redis lost its data: no node opens a new room
--   restored               string present for three node ttls after a node found that Redis
--                                 lost its data: a node forgotten meanwhile settles the fleet
-- and, written by directory.rs rather than these scripts:
--   bans                   hash   the fleet's bans (address, network or name -> end and why)
--   moderation-actions     zset   the operators' actions, JSON, by when they were done
--   moderation-actions:nodes set  the nodes whose actions it holds
-- Keys are built inside the scripts, so the directory runs on one Redis (or a replicated
-- primary), not on Redis Cluster.
local P = 'tickwire:'

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function live(node, now)
  local lapses = redis.call('ZSCORE', P .. 'nodes', node)
  return lapses ~= false and lapses ~= nil and tonumber(lapses) > now
end

local function node_url(node)
  return redis.call('HGET', P .. 'node:' .. node, 'url') or ''
end

local function draining(node)
  return redis.call('HGET', P .. 'node:' .. node, 'draining') == '1'
end

-- Seats promised and not yet taken or given back; expired promises are dropped first.
local function promised(key, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  return redis.call('ZCARD', key)
end

local function forget_room(name, node)
  local key = P .. 'room:' .. name
  redis.call('DEL', key, key .. ':resv', key .. ':resv_s')
  redis.call('SREM', P .. 'rooms', name)
  redis.call('ZREM', P .. 'open', name)
  redis.call('ZREM', P .. 'watch', name)
  if node then
    redis.call('SREM', P .. 'node:' .. node .. ':rooms', name)
  end
end

-- The node hosting `name`, or nil when the room is not listed or its node is gone (then the
-- room is forgotten here, without waiting for its keys to expire).
local function owner_of(name, now)
  local node = redis.call('HGET', P .. 'room:' .. name, 'node')
  if not node then
    -- Its hash expired (its node lapsed and nothing read it since): out of the matchmaking
    -- indexes too, or the entry would stay there for good, read and skipped by every join.
    forget_room(name, nil)
    return nil
  end
  if not live(node, now) then
    forget_room(name, node)
    return nil
  end
  return node
end

-- Puts a room in the matchmaking indexes, or takes it out, from its counts and live promises.
local function reindex(name, now)
  local key = P .. 'room:' .. name
  local h = redis.call('HMGET', key, 'node', 'players', 'spectators', 'capacity', 'max_spectators')
  if not h[1] or not live(h[1], now) or draining(h[1]) then
    redis.call('ZREM', P .. 'open', name)
    redis.call('ZREM', P .. 'watch', name)
    return
  end
  local fill = (tonumber(h[2]) or 0) + promised(key .. ':resv', now)
  if fill < (tonumber(h[4]) or 0) then
    redis.call('ZADD', P .. 'open', fill, name)
  else
    redis.call('ZREM', P .. 'open', name)
  end
  if (tonumber(h[3]) or 0) + promised(key .. ':resv_s', now) < (tonumber(h[5]) or 0) then
    redis.call('ZADD', P .. 'watch', fill, name)
  else
    redis.call('ZREM', P .. 'watch', name)
  end
end
