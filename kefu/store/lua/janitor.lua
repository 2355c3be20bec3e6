-- Expire what nobody holds any more. ARGV: prefix, retention in ms (conversations older than
-- that leave the index; their records expire by TTL). Timeouts come from the shop's config:
-- queue_timeout_s (waiting too long) and idle_close_s (a chat with an agent where nobody said
-- anything for that long is closed "by timeout"); 0 or absent: none.
-- Agents watched (online, away, or offline but still holding chats) without a live presence:
-- their conversations go back to the head of the queue and they go offline. Groups left with
-- nobody online tell their waiting shoppers at once (release_unserved). Queued shoppers without
-- a live presence leave the queue (they reloaded and did not come back within the grace
-- period); so do those who waited longer than the shop's queue timeout. Neither looks at
-- every waiting shopper: each queue has a schedule of presence checks (a shopper is looked at
-- when it joins and again when its presence would expire) and an index by joining time, so a
-- run costs what is due, not the length of the queue.
local timeout, idle = 0, 0
local config = redis.call('GET', K.config)
if config then
  local ok, parsed = pcall(cjson.decode, config)
  if ok and type(parsed) == 'table' then
    timeout = (tonumber(parsed['queue_timeout_s']) or 0) * 1000
    idle = (tonumber(parsed['idle_close_s']) or 0) * 1000
  end
end
local now = now_ms()
local requeued, left = 0, 0
for _, aid in ipairs(redis.call('SMEMBERS', K.agents_present)) do
  if redis.call('EXISTS', K.agent_presence(aid)) == 0 then
    requeued = requeued + requeue_agent(aid, now)
    redis.call('HSET', K.agent(aid), 'status', 'offline')
    redis.call('SREM', K.agents_online, aid)
    redis.call('SREM', K.agents_present, aid)
    publish({event = 'agent_gone', agent_id = aid})
  end
end
release_unserved(now)
for _, g in ipairs(redis.call('SMEMBERS', K.queues)) do
  local checks = K.queue_checks(g)
  if redis.call('ZCARD', checks) ~= redis.call('ZCARD', K.queue(g)) then
    -- Queued by a kefu from before the schedules: put them on it once.
    for _, cid in ipairs(redis.call('ZRANGE', K.queue(g), 0, -1)) do
      if redis.call('ZADD', checks, 'NX', now, cid) == 1 then
        local at = tonumber(redis.call('HGET', K.conversation(cid), 'queued_at')) or now
        redis.call('ZADD', K.queue_since(g), 'NX', at, cid)
      end
    end
  end
  for _, cid in ipairs(redis.call('ZRANGEBYSCORE', checks, '-inf', now)) do
    local sid = redis.call('HGET', K.conversation(cid), 'session')
    local ttl = sid and redis.call('PTTL', K.shopper_presence(sid)) or -2
    if ttl > 0 then
      redis.call('ZADD', checks, now + ttl, cid)  -- look again when it would expire
    elseif ttl == -1 then
      redis.call('ZADD', checks, now + 60000, cid)
    else
      leave_queue(cid, 'gone', now)
      left = left + 1
    end
  end
  if timeout > 0 then
    for _, cid in ipairs(redis.call('ZRANGEBYSCORE', K.queue_since(g), '-inf', now - timeout)) do
      leave_queue(cid, 'timeout', now)
      left = left + 1
    end
  end
end
local closed = 0
if idle > 0 then
  for _, aid in ipairs(redis.call('SMEMBERS', K.agents)) do
    for _, cid in ipairs(redis.call('SMEMBERS', K.agent_conversations(aid))) do
      local c = redis.call('HMGET', K.conversation(cid), 'state', 'last_activity', 'assigned_at', 'session')
      local last = math.max(tonumber(c[2]) or 0, tonumber(c[3]) or 0)
      if c[1] == 'assigned' and now - last > idle then
        redis.call('SREM', K.agent_conversations(aid), cid)
        redis.call('HSET', K.conversation(cid), 'state', 'closed', 'closed_at', now, 'closed_by', 'timeout')
        local id = log_event(c[4], cid, 'closed', {by = 'timeout'})
        inspect_later(cid)
        publish({event = 'closed', conversation_id = cid, session_id = c[4], agent_id = aid, by = 'timeout',
                 previous_state = 'assigned', entry_id = id})
        closed = closed + 1
      end
    end
  end
end
local retention = tonumber(ARGV[2]) or 0
if retention > 0 then
  redis.call('ZREMRANGEBYSCORE', K.conversations, '-inf', now - retention)
  -- A flag's three records go together (a few hundred a run: the next runs take the rest).
  local flags = redis.call('ZRANGEBYSCORE', K.qa_index, '-inf', now - retention, 'LIMIT', 0, 500)
  if #flags > 0 then
    redis.call('HDEL', K.qa_flags, unpack(flags))
    redis.call('ZREM', K.qa_index, unpack(flags))
    redis.call('ZREM', K.qa_ids, unpack(flags))
  end
end
drain(now)
return result({requeued = requeued, left = left, closed = closed})
