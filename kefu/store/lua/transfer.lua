-- Ask for a human. ARGV: prefix, conversation id, group, priority (0 normal, higher first).
local cid, group, priority = ARGV[2], ARGV[3], tonumber(ARGV[4]) or 0
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
local now = now_ms()
local seq = redis.call('INCR', K.queue_seq)
redis.call('HINCRBY', conv, 'transfers', 1)
enqueue(cid, group, seq - priority * 1e12, now)
return settle(cid, c[4], group, now)
