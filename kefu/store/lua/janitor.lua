-- Expire what nobody holds any more. ARGV: prefix, retention in ms (conversations older than
-- that leave the index; their records expire by TTL). Timeouts come from the shop's config:
-- queue_timeout_s (waiting too long) and idle_close_s (a chat with an agent where nobody said
-- anything for that long is closed "by timeout"); 0 or absent: none.
-- Agents online or away without a live presence: their conversations go back to the head of
-- the queue and they go offline. Queued shoppers without a live presence leave the queue
-- (they reloaded and did not come back within the grace period); so do those who waited
-- longer than the shop's queue timeout.
local timeout, idle = 0, 0
local config = redis.call('GET', P .. 'config')
if config then
  local ok, parsed = pcall(cjson.decode, config)
  if ok and type(parsed) == 'table' then
    timeout = (tonumber(parsed['queue_timeout_s']) or 0) * 1000
    idle = (tonumber(parsed['idle_close_s']) or 0) * 1000
  end
end
local now = now_ms()
local requeued, left = 0, 0
for _, aid in ipairs(redis.call('SMEMBERS', P .. 'agents:present')) do
  if redis.call('EXISTS', P .. 'presence:agent:' .. aid) == 0 then
    requeued = requeued + requeue_agent(aid, now)
    redis.call('HSET', P .. 'agent:' .. aid, 'status', 'offline')
    redis.call('SREM', P .. 'agents:online', aid)
    redis.call('SREM', P .. 'agents:present', aid)
    publish({event = 'agent_gone', agent_id = aid})
  end
end
for _, g in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
  for _, cid in ipairs(redis.call('ZRANGE', P .. 'queue:' .. g, 0, -1)) do
    local c = redis.call('HMGET', P .. 'conv:' .. cid, 'session', 'queued_at')
    if not c[1] or redis.call('EXISTS', P .. 'presence:session:' .. c[1]) == 0 then
      leave_queue(cid, 'gone', now)
      left = left + 1
    elseif timeout > 0 and now - (tonumber(c[2]) or now) > timeout then
      leave_queue(cid, 'timeout', now)
      left = left + 1
    end
  end
end
local closed = 0
if idle > 0 then
  for _, aid in ipairs(redis.call('SMEMBERS', P .. 'agents')) do
    for _, cid in ipairs(redis.call('SMEMBERS', P .. 'agent:' .. aid .. ':convs')) do
      local c = redis.call('HMGET', P .. 'conv:' .. cid, 'state', 'last_activity', 'assigned_at', 'session')
      local last = math.max(tonumber(c[2]) or 0, tonumber(c[3]) or 0)
      if c[1] == 'assigned' and now - last > idle then
        redis.call('SREM', P .. 'agent:' .. aid .. ':convs', cid)
        redis.call('HSET', P .. 'conv:' .. cid, 'state', 'closed', 'closed_at', now, 'closed_by', 'timeout')
        local id = log_event(c[4], cid, 'closed', {by = 'timeout'})
        redis.call('RPUSH', P .. 'qa:pending', cid)
        publish({event = 'closed', conversation_id = cid, session_id = c[4], agent_id = aid, by = 'timeout',
                 previous_state = 'assigned', entry_id = id})
        closed = closed + 1
      end
    end
  end
end
local retention = tonumber(ARGV[2]) or 0
if retention > 0 then
  redis.call('ZREMRANGEBYSCORE', P .. 'convs', '-inf', now - retention)
  redis.call('ZREMRANGEBYSCORE', P .. 'qa:index', '-inf', now - retention)
end
drain(now)
return result({requeued = requeued, left = left, closed = closed})
