-- Gives back seats promised to joiners that did not take them. ARGV: room, then promise ids.
local room = ARGV[1]
local key = P .. 'room:' .. room
for i = 2, #ARGV do
  redis.call('ZREM', key .. ':resv', ARGV[i])
  redis.call('ZREM', key .. ':resv_s', ARGV[i])
end
reindex(room, now_ms())
return 1
