-- Ask for a human. ARGV: prefix, conversation id, group, priority (0 normal, higher first),
-- client ('' for none) and how many places one client may hold in the shop's queues (0: any).
local cid, group, priority = ARGV[2], ARGV[3], tonumber(ARGV[4]) or 0
local client, places = ARGV[5] or '', tonumber(ARGV[6]) or 0
local conv = K.conversation(cid)
local c = redis.call('HMGET', conv, 'state', 'agent', 'group', 'session')
if not c[1] then
  return result({status = 'missing'})
end
if c[1] == 'queued' then
  return result({status = 'already_queued', group = c[3],
                 position = redis.call('ZRANK', K.queue(c[3]), cid) + 1})
end
if c[1] == 'assigned' then
  return result({status = 'already_assigned', agent = c[2]})
end
if c[1] == 'closed' then
  return result({status = 'closed'})
end
if not online_in_group(group) then
  redis.call('HINCRBY', conv, 'offline_notices', 1)
  return result({status = 'offline'})
end
-- One client cannot fill the queue with fake shoppers: it holds at most `places` at once.
if client ~= '' and places > 0 then
  local held = K.client_waiting(client)
  -- Only at the cap are the client's places looked at again (those no longer waiting freed):
  -- a join stays O(1) however many places the cap allows.
  if redis.call('SCARD', held) >= places then
    for _, other in ipairs(redis.call('SMEMBERS', held)) do
      if redis.call('HGET', K.conversation(other), 'state') ~= 'queued' then
        redis.call('SREM', held, other)
      end
    end
  end
  if redis.call('SCARD', held) >= places then
    return result({status = 'limited'})
  end
  redis.call('SADD', held, cid)
  redis.call('EXPIRE', held, 86400)
end
local now = now_ms()
local seq = redis.call('INCR', K.queue_seq)
redis.call('HINCRBY', conv, 'transfers', 1)
enqueue(cid, group, seq - priority * 1e12, now)
return settle(cid, c[4], group, now)
