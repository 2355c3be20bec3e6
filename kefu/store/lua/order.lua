-- Store one version of an order, idempotent and never backwards: a version at or below the
-- stored one changes nothing (a retry, or an older event delivered late).
-- ARGV: prefix, order id, customer id, version, status, order JSON, created (ms), now (ms),
-- ttl s, orders kept per customer, orders kept per shop.
-- Returns {'stored', previous status ('' for a new order)}, {'stale', stored version, stored
-- status} or {'conflict', the customer the order belongs to}.
local oid, customer, version, status = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local created, now, ttl = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local per_customer, per_shop = tonumber(ARGV[10]), tonumber(ARGV[11])

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
return {'stored', current[3] or ''}
