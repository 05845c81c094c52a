-- The live node holding a resume token. ARGV: the token as hex.
-- Returns {node, room, node_url} or nil.
local now = now_ms()
for _, node in ipairs(redis.call('ZRANGEBYSCORE', P .. 'nodes', '(' .. now, '+inf')) do
  local room = redis.call('HGET', P .. 'node:' .. node .. ':tokens', ARGV[1])
  if room then
    return { node, room, node_url(node) }
  end
end
return nil
