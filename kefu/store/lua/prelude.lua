-- Shared by every kefu script (prepended when the script is loaded, after `P` — ARGV[1], the
-- shop's key prefix "kefu:{shop}:" — and the key table `K` generated from keys.py). KEYS[1] is
-- any key of the shop, so that Redis Cluster routes the script to the shop's slot; every key
-- in `K` shares the prefix's hash tag, so they all live in that same slot.

-- Caps on what grows with what anonymous shoppers send (docs/deployment.md, "Limits").
-- A session's log keeps about this many lines (the oldest are trimmed); its idempotency map
-- (client message id → line) starts over past twice that.
local LOG_MAX = 2000
-- A shop keeps this many distinct unanswered questions; past it, the rarest go first.
local MISSES_MAX = 2000
-- Closed conversations waiting for quality inspection: past this many (the inspectors far
-- behind), the oldest are not inspected.
local QA_PENDING_MAX = 100000
-- A log an event begins again after it expired, with no session to take the expiry from: a day.
local ORPHAN_LOG_S = 86400

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function publish(event)
  redis.call('PUBLISH', K.events, cjson.encode(event))
end

-- What this script did to the groups' queues: per group, the scores that joined and left.
-- Sent as one 'queue' event per group when the script returns (`result`), with the group's
-- queue version, so each waiting socket works out its own position from its score without
-- asking Redis, and a burst of assignments is one event.
local moves = {}

local function moved(group, kind, score)
  local m = moves[group]
  if not m then
    m = {joined = {}, left = {}}
    moves[group] = m
  end
  m[kind][#m[kind] + 1] = tonumber(score)
end

local function flush_moves()
  for g, m in pairs(moves) do
    local event = {event = 'queue', group = g, version = redis.call('HINCRBY', K.queue_versions, g, 1)}
    if #m.joined > 0 then event.joined = m.joined end
    if #m.left > 0 then event.left = m.left end
    publish(event)
  end
  moves = {}
end

local function result(tbl)
  flush_moves()
  return cjson.encode(tbl)
end

-- Write a state change into the session's log, where the shopper's socket reads it in order
-- with the messages (agent joined, closed, back in the queue…). Returns the entry id.
local function log_event(sid, cid, event, fields)
  if not sid then
    return nil
  end
  fields = fields or {}
  fields['event'] = event
  local t = redis.call('TIME')
  local ts = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local log = K.log(sid)
  local id = redis.call('XADD', log, 'MAXLEN', '~', LOG_MAX, '*',
                        'c', cid, 'f', 'system', 't', '', 'ts', ts, 'x', cjson.encode(fields))
  if redis.call('TTL', log) < 0 then
    -- The log had expired (a silent session under a socket left open) and this began it again:
    -- it lives as long as its session, and never forever.
    local ttl = redis.call('TTL', K.session(sid))
    redis.call('EXPIRE', log, ttl > 0 and ttl or ORPHAN_LOG_S)
  end
  return id
end

-- A closed conversation, for the quality inspector (kefu/reports/flags.py QaWorker).
local function inspect_later(cid)
  if redis.call('RPUSH', K.qa_pending, cid) > QA_PENDING_MAX then
    redis.call('LTRIM', K.qa_pending, -QA_PENDING_MAX, -1)
  end
end

-- Remember which line a client message id became (a resend is then answered, not stored).
local function remember_cmid(sid, cmid, id, retention)
  local cmids = K.client_ids(sid)
  if redis.call('HLEN', cmids) >= 2 * LOG_MAX then
    redis.call('DEL', cmids)
  end
  redis.call('HSET', cmids, cmid, id)
  redis.call('EXPIRE', cmids, retention)
end

-- Count an unanswered question for the admin's list, which stays at MISSES_MAX entries.
local function count_miss(miss, example)
  redis.call('ZINCRBY', K.misses, 1, miss)
  redis.call('HSET', K.miss_examples, miss, example)
  local over = redis.call('ZCARD', K.misses) - MISSES_MAX
  if over > 0 then
    local gone = redis.call('ZPOPMIN', K.misses, over)
    for i = 1, #gone, 2 do
      redis.call('HDEL', K.miss_examples, gone[i])
    end
  end
end

-- An agent of `group` who is online and below capacity: the least loaded, then the one who
-- waited longest since the last assignment.
local function free_agent(group)
  local best, best_load, best_last
  for _, aid in ipairs(redis.call('SMEMBERS', K.group_agents(group))) do
    local a = redis.call('HMGET', K.agent(aid), 'status', 'capacity', 'last_assigned')
    -- New chats only go to an agent with a socket open right now: one whose browser just
    -- dropped keeps its chats for the grace period, but gets no new ones meanwhile.
    if a[1] == 'online' and redis.call('EXISTS', K.agent_live(aid)) == 1 then
      local capacity = tonumber(a[2]) or 0
      local active = redis.call('SCARD', K.agent_conversations(aid))
      if active < capacity then
        local load = active / capacity
        local last = tonumber(a[3]) or 0
        if best == nil or load < best_load or (load == best_load and last < best_last) then
          best, best_load, best_last = aid, load, last
        end
      end
    end
  end
  return best
end

local function online_in_group(group)
  for _, aid in ipairs(redis.call('SMEMBERS', K.group_agents(group))) do
    if redis.call('HGET', K.agent(aid), 'status') == 'online' then
      return true
    end
  end
  return false
end

local function assign(cid, aid, now)
  local conv = K.conversation(cid)
  local c = redis.call('HMGET', conv, 'session', 'group', 'queued_at')
  redis.call('HSET', conv, 'state', 'assigned', 'agent', aid, 'assigned_at', now)
  redis.call('HSETNX', conv, 'first_assigned_at', now)
  redis.call('HDEL', conv, 'score')
  redis.call('SADD', K.agent_conversations(aid), cid)
  -- Watched by the janitor while it holds a chat, whatever its status (offline agents too).
  redis.call('SADD', K.agents_present, aid)
  redis.call('HSET', K.agent(aid), 'last_assigned', now)
  local name = redis.call('HGET', K.agent(aid), 'name') or aid
  local id = log_event(c[1], cid, 'agent_joined', {agent_id = aid, agent_name = name})
  publish({event = 'assigned', conversation_id = cid, session_id = c[1], agent_id = aid, group = c[2],
           waited_ms = now - (tonumber(c[3]) or now), at = now, entry_id = id})
end

-- Put a conversation into a group's queue with the given score (lower is served first).
local function enqueue(cid, group, score, now)
  local conv = K.conversation(cid)
  redis.call('ZADD', K.queue(group), score, cid)
  -- The janitor looks at it at its next run (is the shopper there?) and then when the
  -- shopper's presence would expire; the timeout counts from now.
  redis.call('ZADD', K.queue_checks(group), now, cid)
  redis.call('ZADD', K.queue_since(group), now, cid)
  moved(group, 'joined', score)
  redis.call('SADD', K.queues, group)
  redis.call('HSET', conv, 'state', 'queued', 'group', group, 'queued_at', now, 'score', score)
  redis.call('HSETNX', conv, 'first_queued_at', now)
  redis.call('HDEL', conv, 'agent')
end

-- Take a conversation out of `group`'s queue (and the janitor's schedules); its score, or nil
-- when it was not there.
local function unqueue(group, cid)
  local score = redis.call('ZSCORE', K.queue(group), cid)
  if score then
    redis.call('ZREM', K.queue(group), cid)
    redis.call('ZREM', K.queue_checks(group), cid)
    redis.call('ZREM', K.queue_since(group), cid)
    moved(group, 'left', score)
  end
  return score
end

-- A score that puts a conversation before everyone waiting in `group` (requeue after an
-- agent vanished, transfer between groups: these shoppers already waited once).
local function head_score(group)
  local head = redis.call('ZRANGE', K.queue(group), 0, 0, 'WITHSCORES')
  local seq = redis.call('INCR', K.queue_seq)
  if #head == 0 then
    return seq - 1e12
  end
  return math.min(tonumber(head[2]) - 1, seq - 1e12)
end

-- Serve waiting shoppers while some agent has a free slot: always the oldest head among the
-- groups a free agent can serve.
local function drain(now)
  while true do
    local heads = {}
    for _, g in ipairs(redis.call('SMEMBERS', K.queues)) do
      local h = redis.call('ZRANGE', K.queue(g), 0, 0, 'WITHSCORES')
      if #h == 0 then
        redis.call('SREM', K.queues, g)
      else
        heads[#heads + 1] = {g, h[1], tonumber(h[2])}
      end
    end
    table.sort(heads, function(a, b) return a[3] < b[3] end)
    local served = false
    for _, h in ipairs(heads) do
      local aid = free_agent(h[1])
      if aid then
        unqueue(h[1], h[2])
        assign(h[2], aid, now)
        served = true
        break
      end
    end
    if not served then
      break
    end
  end
end

-- Take a conversation out of its queue without serving it; the shopper stays with the bot.
local function leave_queue(cid, reason, now)
  local conv = K.conversation(cid)
  local c = redis.call('HMGET', conv, 'group', 'session')
  if c[1] then
    unqueue(c[1], cid)
  end
  redis.call('HSET', conv, 'state', 'bot', 'left_queue_at', now, 'left_queue_reason', reason)
  redis.call('HINCRBY', conv, 'abandoned', 1)
  redis.call('HDEL', conv, 'score')
  local id = log_event(c[2], cid, 'left_queue', {reason = reason})
  publish({event = 'left_queue', conversation_id = cid, session_id = c[2], group = c[1], reason = reason,
           entry_id = id})
end

-- A conversation just put in `group`'s queue: serve the queues, then say where it ended up
-- (with an agent, or queued at a position, logged and announced).
local function settle(cid, sid, group, now)
  drain(now)
  local state = redis.call('HMGET', K.conversation(cid), 'state', 'agent')
  if state[1] == 'assigned' then
    return result({status = 'assigned', agent = state[2], group = group})
  end
  local id = log_event(sid, cid, 'queued', {group = group})
  publish({event = 'queued', conversation_id = cid, session_id = sid, group = group, entry_id = id})
  return result({status = 'queued', group = group,
                 position = redis.call('ZRANK', K.queue(group), cid) + 1})
end

-- Whether anyone of the group is at the desk: online, or away for a moment (coming back).
local function staffed(group)
  for _, aid in ipairs(redis.call('SMEMBERS', K.group_agents(group))) do
    local status = redis.call('HGET', K.agent(aid), 'status')
    if status == 'online' or status == 'away' then
      return true
    end
  end
  return false
end

-- Shoppers waiting in a group that has nobody at the desk any more (the last agent went
-- offline or left) are told at once — the shop is offline, leave a message — instead of
-- waiting for the queue timeout. They keep their transcript and stay with the bot. An agent
-- away for a moment keeps the queue (its shoppers wait for it to come back).
local function release_unserved(now)
  for _, g in ipairs(redis.call('SMEMBERS', K.queues)) do
    if not staffed(g) then
      for _, cid in ipairs(redis.call('ZRANGE', K.queue(g), 0, -1)) do
        leave_queue(cid, 'no_agents', now)
      end
    end
  end
end

-- Every conversation of an agent goes back to the head of its group's queue.
local function requeue_agent(aid, now)
  local convs = redis.call('SMEMBERS', K.agent_conversations(aid))
  for _, cid in ipairs(convs) do
    local conv = K.conversation(cid)
    local c = redis.call('HMGET', conv, 'state', 'agent', 'group', 'session')
    if c[1] == 'assigned' and c[2] == aid then
      enqueue(cid, c[3], head_score(c[3]), now)
      redis.call('HINCRBY', conv, 'requeued', 1)
      local id = log_event(c[4], cid, 'requeued', {agent_id = aid})
      publish({event = 'requeued', conversation_id = cid, session_id = c[4], group = c[3], agent_id = aid,
               entry_id = id})
    end
  end
  redis.call('DEL', K.agent_conversations(aid))
  return #convs
end
