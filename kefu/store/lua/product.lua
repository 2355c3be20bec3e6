-- The product the shopper is looking at, on the session. A session that expired under an open
-- socket (silent for its whole short life) is written again with the silent expiry, never
-- left to live forever. ARGV: prefix, session id, product JSON, silent TTL (s).
local key = K.session(ARGV[2])
redis.call('HSET', key, 'product', ARGV[3])
if redis.call('TTL', key) < 0 then
  redis.call('EXPIRE', key, tonumber(ARGV[4]))
end
return 1
