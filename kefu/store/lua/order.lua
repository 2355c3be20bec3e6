-- Store one version of an order, idempotent and never backwards: a version at or below the
-- stored one changes nothing (a retry, or an older event delivered late).
-- A new order is attributed, in the same step, to its customer's last chat — the one current
-- in their session, if they said something in it and it was active until at most `window`
-- before the order was placed: to its agent, else to the bot — and put on the 催付 schedule
-- (due `reminder after` after it was placed) when that chat had an agent and was active at
-- most `reminder window` before.
-- ARGV: prefix, order id, customer id, version, status, order JSON, created (ms), now (ms),
-- ttl s, orders kept per customer, orders kept per shop, attribution window (ms, 0: none),
-- reminder after (ms, 0: none), reminder window (ms).
-- Returns {'stored', previous status ('' for a new order), attributed to ('' for nobody)},
-- {'stale', stored version, stored status} or {'conflict', the customer the order belongs to}.
local oid, customer, version, status = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local created, now, ttl = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local per_customer, per_shop = tonumber(ARGV[10]), tonumber(ARGV[11])
local window, reminder_after, reminder_window = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])

local key = K.order(oid)
local current = redis.call('HMGET', key, 'version', 'customer', 'status')
if current[1] then
  if current[2] ~= customer then
    return {'conflict', current[2]}
  end
  if tonumber(current[1]) >= version then
    return {'stale', current[1], current[3]}
  end
end
redis.call('HSET', key, 'version', ARGV[4], 'customer', customer, 'status', status, 'json', ARGV[6],
           'created', ARGV[7], 'updated', ARGV[8])
redis.call('EXPIRE', key, ttl)

local mine = K.customer_orders(customer)
redis.call('ZADD', mine, created, oid)
local n = redis.call('ZCARD', mine)
if n > per_customer then
  redis.call('ZREMRANGEBYRANK', mine, 0, n - per_customer - 1)
end
redis.call('EXPIRE', mine, ttl)

-- The shop's index: past the retention period or the cap the oldest go, records included
-- (at most 100 per call, so one call stays short).
redis.call('ZADD', K.orders, created, oid)
local old = redis.call('ZRANGEBYSCORE', K.orders, '-inf', now - ttl * 1000, 'LIMIT', 0, 100)
local total = redis.call('ZCARD', K.orders)
if #old == 0 and total > per_shop then
  old = redis.call('ZRANGE', K.orders, 0, math.min(total - per_shop, 100) - 1)
end
for _, o in ipairs(old) do
  if o ~= oid then
    redis.call('DEL', K.order(o))
  end
  redis.call('ZREM', K.orders, o)
end
local by = ''
if current[1] then
  by = redis.call('HGET', key, 'by') or ''
elseif window > 0 then
  local sid = redis.call('HGET', K.customer(customer), 'session')
  local cid = sid and redis.call('HGET', K.session(sid), 'conv')
  if cid then
    local c = redis.call('HMGET', K.conversation(cid), 'created', 'agent', 'last_activity', 'n_shopper')
    if c[1] and tonumber(c[4] or 0) > 0 then
      local from = tonumber(c[1])
      local last = tonumber(c[3] or c[1])
      if created >= from - 60000 and created <= last + window then
        by = c[2] or 'bot'
        redis.call('HSET', key, 'by', by, 'by_conv', cid)
        if reminder_after > 0 and c[2] and status == 'created' and created <= last + reminder_window then
          redis.call('ZADD', K.payment_checks, created + reminder_after, oid)
        end
      end
    end
  end
end
return {'stored', current[3] or '', by}
