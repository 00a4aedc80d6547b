// A small local model server speaking the part of Ollama's HTTP API that Spotlight's Ollama
// adapter uses, so the insights tests can run a real model offline. scripts/local-model.sh
// installs what it needs (node-llama-cpp, pinned in scripts/local-model/package-lock.json, in
// ./.tools/local-model; SmolLM2-135M-Instruct as a GGUF in ./.tools/models) and starts it.
//
//   node scripts/local-model.mjs [--port N] [--model FILE.gguf]
//     --port   default $SPOTLIGHT_LOCAL_MODEL_PORT, else 11434 (Ollama's port)
//     --model  default $SPOTLIGHT_LOCAL_MODEL_GGUF, else .tools/models/SmolLM2-135M-Instruct.Q4_1.gguf
//
// It listens on 127.0.0.1 only, once the model is loaded, and serves:
//   GET  /api/tags     the one model, as {"models":[{"name":"smollm2:135m", ...}]}
//   POST /api/chat     {"model", "messages":[{"role","content"}], "stream": false,
//                       "options": {"temperature", "num_predict", "seed", "top_k", "top_p",
//                       "min_p", "repeat_penalty", "repeat_last_n", "presence_penalty",
//                       "frequency_penalty", "stop"}}
//                      -> {"model", "created_at", "message":{"role":"assistant","content"},
//                          "done": true, "done_reason": "stop"|"length", "total_duration", ...,
//                          "prompt_eval_count", "eval_count"}
//   GET  /             "Ollama is running", as Ollama answers
//   GET  /api/version  {"version": ...}
// Errors are {"error": "..."}: 400 for a request it cannot read (and for "stream": true or a
// missing "stream", which Ollama takes as true: only whole answers are served), 404 for an
// unknown model or path.
//
// The model is loaded once and runs on ONE thread with no GPU: on a 2-core machine a second
// thread makes every answer many times slower, as the threads fight the rest of the machine.
// Requests are answered one at a time, in arrival order, each on a cleared context sequence
// with a history of its own, so an answer depends on its request alone: with temperature 0
// (or a seed) the same request gets the same answer. Token counts are real: the prompt as the
// model's chat template lays it out, tokenized, and the tokens generated.
import http from 'node:http'
import fs from 'node:fs'
import crypto from 'node:crypto'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const toolDir = path.join(root, '.tools', 'local-model')
const MODEL_NAME = 'smollm2:135m'
const CONTEXT_SIZE = 4096 // Ollama's default num_ctx
const MAX_BODY = 16 * 1024 * 1024
const VERSION = '0.0.0-spotlight-local-model'

function fail(message) {
  process.stderr.write(`scripts/local-model.mjs: ${message}\n`)
  process.exit(2)
}

function parseArgs(argv) {
  const opts = {
    port: process.env.SPOTLIGHT_LOCAL_MODEL_PORT ?? '11434',
    model:
      process.env.SPOTLIGHT_LOCAL_MODEL_GGUF ??
      path.join(root, '.tools', 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf')
  }
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2)
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`)
    if (flag === '--port') opts.port = value()
    else if (flag === '--model') opts.model = value()
    else fail(`unknown argument '${argv[i]}' (the options are --port N and --model FILE.gguf)`)
  }
  const port = Number(opts.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`'${opts.port}' is not a port number`)
  return { port, model: path.resolve(opts.model) }
}

const opts = parseArgs(process.argv.slice(2))
if (!fs.existsSync(opts.model)) {
  fail(`the model ${opts.model} is not there; run scripts/local-model.sh, which installs it`)
}

let lib
try {
  const entry = createRequire(path.join(toolDir, 'package.json')).resolve('node-llama-cpp')
  lib = await import(pathToFileURL(entry).href)
} catch (e) {
  fail(`node-llama-cpp is not installed in ${toolDir}; run scripts/local-model.sh, which installs it: ${e.message}`)
}
const { getLlama, LlamaChat, LlamaLogLevel, GgufFileType } = lib

// Loading: the prebuilt CPU binary only (build: 'never' means nothing is ever downloaded or
// compiled here), one thread for the whole Llama instance and for the context.
const loadStarted = process.hrtime.bigint()
const llama = await getLlama({
  gpu: false,
  build: 'never',
  usePrebuiltBinaries: true,
  skipDownload: true,
  progressLogs: false,
  maxThreads: 1,
  logLevel: LlamaLogLevel.warn
})
const model = await llama.loadModel({ modelPath: opts.model, gpuLayers: 0, useMlock: false })
const context = await model.createContext({
  contextSize: CONTEXT_SIZE,
  sequences: 1,
  threads: { ideal: 1, min: 1 }
})
const sequence = context.getSequence()
const chat = new LlamaChat({ contextSequence: sequence, chatWrapper: 'auto' })
const loadDuration = process.hrtime.bigint() - loadStarted

const stat = fs.statSync(opts.model)
const digest = await new Promise((resolve, reject) => {
  const hash = crypto.createHash('sha256')
  fs.createReadStream(opts.model)
    .on('data', (chunk) => hash.update(chunk))
    .on('end', () => resolve(hash.digest('hex')))
    .on('error', reject)
})
const general = model.fileInfo.metadata?.general ?? {}
const fileType = GgufFileType[general.file_type]
const modelEntry = {
  name: MODEL_NAME,
  model: MODEL_NAME,
  modified_at: stat.mtime.toISOString(),
  size: stat.size,
  digest,
  details: {
    parent_model: '',
    format: 'gguf',
    family: general.architecture ?? 'llama',
    families: [general.architecture ?? 'llama'],
    parameter_size: general.size_label ?? '135M',
    quantization_level: fileType ? fileType.replace(/^(MOSTLY|ALL)_/, '') : String(general.file_type ?? '')
  }
}

class BadRequest extends Error {
  constructor(status, message) {
    super(message)
    this.status = status
  }
}

function send(res, status, body) {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text)
  })
  res.end(text)
}

async function readBody(req) {
  const chunks = []
  let size = 0
  for await (const chunk of req) {
    size += chunk.length
    if (size > MAX_BODY) throw new BadRequest(413, `the request body is over ${MAX_BODY} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

// A number option: absent or null is `fallback`; anything but a finite number is refused.
function numberOption(options, key, fallback) {
  const v = options[key]
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new BadRequest(400, `options.${key} must be a number`)
  return v
}

// The request as node-llama-cpp's chat history and generation options. Ollama's defaults
// stand for the options left out.
function readChatRequest(text) {
  let body
  try {
    body = JSON.parse(text)
  } catch (e) {
    throw new BadRequest(400, `the request body is not JSON: ${e.message}`)
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BadRequest(400, 'the request body must be a JSON object')
  }
  if (typeof body.model !== 'string' || body.model === '') throw new BadRequest(400, 'model is required')
  if (body.model !== MODEL_NAME) throw new BadRequest(404, `model '${body.model}' not found`)
  if (body.stream !== false) {
    throw new BadRequest(400, 'only "stream": false is served: send "stream": false for the whole answer at once')
  }
  if (body.format !== undefined && body.format !== null && body.format !== '') {
    throw new BadRequest(400, '"format" is not served')
  }
  if (Array.isArray(body.tools) && body.tools.length > 0) throw new BadRequest(400, '"tools" are not served')
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw new BadRequest(400, 'messages is required: a non-empty array of {"role", "content"}')
  }
  const history = body.messages.map((m, i) => {
    if (m === null || typeof m !== 'object') throw new BadRequest(400, `messages[${i}] must be an object`)
    if (typeof m.content !== 'string') throw new BadRequest(400, `messages[${i}].content must be a string`)
    if (Array.isArray(m.images) && m.images.length > 0) throw new BadRequest(400, `messages[${i}]: images are not served`)
    switch (m.role) {
      case 'system':
        return { type: 'system', text: m.content }
      case 'user':
        return { type: 'user', text: m.content }
      case 'assistant':
        return { type: 'model', response: [m.content] }
      default:
        throw new BadRequest(400, `messages[${i}].role must be "system", "user" or "assistant", not ${JSON.stringify(m.role)}`)
    }
  })
  if (history[history.length - 1].type !== 'user') {
    throw new BadRequest(400, 'the last message must be the user\'s: it is the prompt answered')
  }
  history.push({ type: 'model', response: [] }) // the answer, to be generated

  const options = body.options ?? {}
  if (typeof options !== 'object' || Array.isArray(options)) throw new BadRequest(400, 'options must be an object')
  const numPredict = numberOption(options, 'num_predict', -1)
  const seed = numberOption(options, 'seed', -1)
  let stop = options.stop ?? []
  if (typeof stop === 'string') stop = [stop]
  if (!Array.isArray(stop) || stop.some((s) => typeof s !== 'string')) {
    throw new BadRequest(400, 'options.stop must be a string or an array of strings')
  }
  const generation = {
    temperature: Math.max(0, numberOption(options, 'temperature', 0.8)),
    topK: numberOption(options, 'top_k', 40),
    topP: numberOption(options, 'top_p', 0.9),
    minP: numberOption(options, 'min_p', 0),
    repeatPenalty: {
      penalty: numberOption(options, 'repeat_penalty', 1.1),
      lastTokens: numberOption(options, 'repeat_last_n', 64),
      presencePenalty: numberOption(options, 'presence_penalty', 0),
      frequencyPenalty: numberOption(options, 'frequency_penalty', 0)
    },
    seed: seed >= 0 ? Math.floor(seed) : crypto.randomInt(2 ** 31),
    customStopTriggers: stop.filter((s) => s !== '')
  }
  if (generation.repeatPenalty.penalty === 1 && generation.repeatPenalty.presencePenalty === 0 &&
      generation.repeatPenalty.frequencyPenalty === 0) {
    generation.repeatPenalty = false
  }
  if (generation.customStopTriggers.length === 0) delete generation.customStopTriggers
  return { history, numPredict, generation }
}

async function answer(request, signal) {
  const started = process.hrtime.bigint()
  const { history, numPredict, generation } = request
  const promptTokens = chat.chatWrapper
    .generateContextState({ chatHistory: history })
    .contextText.tokenize(model.tokenizer).length
  const room = CONTEXT_SIZE - promptTokens
  if (room <= 0) {
    throw new BadRequest(400, `the prompt is ${promptTokens} tokens, no room left in the model's context of ${CONTEXT_SIZE}`)
  }
  const maxTokens = numPredict > 0 ? Math.min(Math.floor(numPredict), room) : room

  await sequence.clearHistory() // each request from a clean state, with the same loaded model
  let evalCount = 0
  let firstToken = null
  const result = await chat.generateResponse(history, {
    ...generation,
    maxTokens,
    signal, // a client that hung up: its answer is stopped, not finished for no one
    stopOnAbortSignal: true,
    onToken(tokens) {
      if (firstToken === null) firstToken = process.hrtime.bigint()
      evalCount += tokens.length
    }
  })
  const done = process.hrtime.bigint()
  firstToken ??= done
  return {
    model: MODEL_NAME,
    created_at: new Date().toISOString(),
    message: { role: 'assistant', content: result.response },
    done_reason: result.metadata.stopReason === 'maxTokens' ? 'length' : 'stop',
    done: true,
    total_duration: Number(done - started),
    load_duration: 0,
    prompt_eval_count: promptTokens,
    prompt_eval_duration: Number(firstToken - started),
    eval_count: evalCount,
    eval_duration: Number(done - firstToken)
  }
}

// One generation at a time, in arrival order.
let queue = Promise.resolve()
function enqueue(job) {
  const run = queue.then(job)
  queue = run.catch(() => {})
  return run
}

async function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1')
  const route = `${req.method} ${url.pathname}`
  switch (route) {
    case 'GET /':
    case 'HEAD /':
      return send(res, 200, 'Ollama is running')
    case 'GET /api/version':
      return send(res, 200, { version: VERSION })
    case 'GET /api/tags':
      return send(res, 200, { models: [modelEntry] })
    case 'POST /api/chat': {
      const request = readChatRequest(await readBody(req))
      const hungUp = new AbortController()
      res.on('close', () => {
        if (!res.writableFinished) hungUp.abort()
      })
      const reply = await enqueue(() => (hungUp.signal.aborted ? null : answer(request, hungUp.signal)))
      if (reply !== null && !res.destroyed) send(res, 200, reply)
      return
    }
  }
  if (['/', '/api/version', '/api/tags', '/api/chat'].includes(url.pathname)) {
    return send(res, 405, { error: `${req.method} is not served on ${url.pathname}` })
  }
  send(res, 404, { error: `no such endpoint: ${req.method} ${url.pathname}` })
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    if (res.headersSent || res.destroyed) return
    if (e instanceof BadRequest) send(res, e.status, { error: e.message })
    else {
      process.stderr.write(`scripts/local-model.mjs: ${req.method} ${req.url}: ${e?.stack ?? e}\n`)
      send(res, 500, { error: String(e?.message ?? e) })
    }
  })
})
server.keepAliveTimeout = 30_000

let stopping = false
async function stop(signal) {
  if (stopping) return
  stopping = true
  process.stderr.write(`scripts/local-model.mjs: ${signal}: stopping\n`)
  server.close()
  server.closeAllConnections?.()
  const timer = setTimeout(() => process.exit(0), 2000)
  timer.unref()
  try {
    await llama.dispose()
  } catch {}
  process.exit(0)
}
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))

server.on('error', (e) => fail(`cannot listen on 127.0.0.1:${opts.port}: ${e.message}`))
server.listen(opts.port, '127.0.0.1', () => {
  const { port } = server.address()
  process.stderr.write(
    `scripts/local-model.mjs: serving ${MODEL_NAME} (${opts.model}, loaded in ` +
      `${(Number(loadDuration) / 1e9).toFixed(2)} s, chat template ${chat.chatWrapper.wrapperName}, ` +
      `${context.currentThreads} thread) on http://127.0.0.1:${port}\n`
  )
})
