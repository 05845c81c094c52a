-- The live node holding a resume token. ARGV: the token as hex, and the protocol version of
-- the node asking (its client's): a seat on a node of another version is none the client could
-- take (a fleet upgrading across a protocol version), and it joins afresh.
-- Returns {node, room, node_url} or nil.
local now = now_ms()
for _, node in ipairs(redis.call('ZRANGEBYSCORE', P .. 'nodes', '(' .. now, '+inf')) do
  local room = redis.call('HGET', P .. 'node:' .. node .. ':tokens', ARGV[1])
  if room then
    local theirs = redis.call('HGET', P .. 'node:' .. node, 'protocol')
    if ARGV[2] and theirs and theirs ~= '' and theirs ~= ARGV[2] then
      return nil
    end
    return { node, room, node_url(node) }
  end
end
return nil
