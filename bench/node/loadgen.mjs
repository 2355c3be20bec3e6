// The load generator's `chat` mode (bench/loadgen.py) in Node.js: the same sockets, questions,
// pacing, events and JSON result, at a fraction of the CPU per message. A Python load generator
// needs a core of its own to offer ≈ 1,150 questions a second; this one leaves the cores to the
// servers it measures (`bench/turns.py --loadgen node`: `--workers 2` on a 2-core machine).
//
//   npm ci --prefix bench/node
//   node bench/node/loadgen.mjs chat --url http://127.0.0.1:8080 --sockets 2000 --rate 900 \
//        --duration 15 --questions tests/data/faq_dev_cases.jsonl [--warm-all [--warm-rounds 4]]
//
// Events ({"event": "connecting" | "connected" | "chatting" | "chat_done"}) go to stderr, one
// JSON line each, for the driver to read the server's CPU at; the result is one JSON line on
// stdout.

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import WebSocket from "ws";

const FEW = ["什么时候发货", "包邮吗", "怎么退货", "when will my order ship?", "請問可以換貨嗎", "多久能退款"];

const { positionals, values: args } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string" },
    shop: { type: "string", default: "bench" },
    sockets: { type: "string", default: "1000" },
    "connect-rate": { type: "string", default: "1000" },
    rate: { type: "string", default: "200" },
    duration: { type: "string", default: "20" },
    questions: { type: "string" },
    "warm-all": { type: "boolean", default: false },
    "warm-rounds": { type: "string", default: "1" },
  },
});
if (positionals[0] !== "chat" || !args.url) {
  console.error("usage: loadgen.mjs chat --url URL [--sockets N] [--rate R] [--duration S] [--questions FILE] [--warm-all]");
  process.exit(2);
}

const event = (name, extra = {}) => process.stderr.write(JSON.stringify({ event: name, ...extra }) + "\n");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

// A seeded generator (mulberry32): the same draws on every run, as loadgen.py's Random(7).
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rng = random(7);
const choice = (list) => list[Math.floor(rng() * list.length)];

// As loadgen.py's pct: the value at rank round(q·n), 1-based.
function pct(values, q) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.round(q * sorted.length) - 1));
  return Math.round(sorted[rank] * 1000) / 1000;
}

const latencies = [];
const errors = {};
let counter = 0;
let transfers = 0;

class Shopper {
  constructor(url) {
    this.waiting = null; // [client_msg_id, sent at]
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.ready = new Promise((resolve, reject) => {
      this.ws.on("error", reject);
      this.ws.on("message", (data) => {
        const outer = JSON.parse(data.toString());
        for (const frame of outer.type === "batch" ? outer.frames : [outer]) {
          // A reply first: the bot answers small talk (你好, thanks) as a greeting too.
          if (frame.type === "bot" && this.waiting) {
            latencies.push(now() - this.waiting[1]);
            this.waiting = null;
          } else if (frame.type === "bot" && frame.decision === "greeting") resolve();
          else if (frame.type === "offline" || frame.type === "queued") {
            // The bot read it as a request for a human (nobody is online here): no answer
            // to time, and the socket may ask again.
            this.waiting = null;
            transfers += 1;
          } else if (frame.type === "error") errors[frame.code] = (errors[frame.code] || 0) + 1;
        }
      });
    });
  }

  ask(text) {
    const cid = `q${counter++}`;
    this.waiting = [cid, now()];
    this.ws.send(JSON.stringify({ type: "message", text, client_msg_id: cid }));
  }
}

async function openMany(n, connectRate) {
  const url = `${args.url.replace(/^http/, "ws").replace(/\/$/, "")}/ws/shopper?shop=${encodeURIComponent(args.shop)}&lang=zh`;
  const opening = [];
  for (let i = 0; i < n; i++) {
    const s = new Shopper(url);
    opening.push(
      Promise.race([s.ready, sleep(60000).then(() => Promise.reject(new Error("no greeting")))]).then(
        () => s,
        () => null,
      ),
    );
    await sleep(1000 / connectRate);
  }
  const opened = await Promise.all(opening);
  const failed = opened.filter((s) => s === null).length;
  if (failed) errors.connect = failed;
  return opened.filter((s) => s !== null);
}

let questions = FEW;
if (args.questions) {
  // Requests for a human (`@transfer`) leave the bot: not asked here, as in loadgen.py.
  questions = readFileSync(args.questions, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line))
    .filter((c) => c.expect !== "@transfer")
    .map((c) => c.q);
}

event("connecting");
const shoppers = await openMany(Number(args.sockets), Number(args["connect-rate"]));
event("connected");
// Warm-up: the shop's matcher is built on the first question; --warm-all asks every distinct
// question (100 a second) so that the measured part runs with the result cache warm, on
// --warm-rounds sockets each: several workers (`kefu serve --workers N`) each keep their own
// cache, and sockets land on them at random.
const rounds = args["warm-all"] ? Math.max(1, Number(args["warm-rounds"])) : 1;
const warm = args["warm-all"] ? questions : Array.from({ length: 20 }, () => choice(questions));
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < warm.length; i++) {
    const s = shoppers[(i * rounds + r) % shoppers.length];
    if (s.waiting === null) s.ask(warm[i]);
    await sleep(10 / rounds);
  }
}
await sleep(3000);
latencies.length = 0;

event("chatting", { sockets: shoppers.length });
const interval = 1000 / Number(args.rate);
const duration = Number(args.duration) * 1000;
let sent = 0;
const started = now();
let nextAt = started;
while (now() - started < duration) {
  const s = choice(shoppers);
  if (s.waiting === null) {
    s.ask(choice(questions));
    sent += 1;
  }
  nextAt += interval;
  const delay = nextAt - now();
  // setTimeout is good to a millisecond: below that, send on and let the schedule catch up.
  if (delay >= 1) await sleep(delay);
  else if (sent % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
}
const elapsed = (now() - started) / 1000;
await sleep(2000); // the last replies
event("chat_done", { answered: latencies.length });
for (const s of shoppers) s.ws.close();
const mean = latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : null;
process.stdout.write(
  JSON.stringify({
    mode: "chat",
    loadgen: "node",
    sockets: shoppers.length,
    sent,
    answered: latencies.length,
    transfers,
    rate: Math.round((sent / elapsed) * 10) / 10,
    p50_ms: pct(latencies, 0.5),
    p99_ms: pct(latencies, 0.99),
    mean_ms: mean === null ? null : Math.round(mean * 1000) / 1000,
    errors,
  }) + "\n",
);
process.exit(0);
