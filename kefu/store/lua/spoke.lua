-- The shopper wrote (a message, a transfer request, a left message): the session lives its
-- full life now — the session, its token, its log and its conversation keep the long expiries
-- and the conversation is listed for stats and QA. ARGV: prefix, session id, token TTL (s),
-- retention (s).
local sid, token_ttl, retention = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local key = K.session(sid)
redis.call('HSET', key, 'spoke', 1)
redis.call('EXPIRE', key, token_ttl)
local token_hash = redis.call('HGET', key, 'th')
if token_hash then
  redis.call('EXPIRE', K.shopper_token(token_hash), token_ttl)
end
local cid = redis.call('HGET', key, 'conv')
if cid then
  local created = redis.call('HGET', K.conversation(cid), 'created')
  if created then
    redis.call('EXPIRE', K.conversation(cid), retention)
    redis.call('ZADD', K.conversations, 'NX', tonumber(created), cid)
  end
end
redis.call('EXPIRE', K.log(sid), retention)
return 1
