// Drives the served browser helper under node; prints one JSON object of results.
// Usage: node helper_driver.mjs <helper.mjs> stub
//        node helper_driver.mjs <helper.mjs> live <gateway url> <token> <thread id>
const [helperPath, mode, gateway, token, threadId] = process.argv.slice(2);
const { createChatKitFetch, resumeAfterReload } = await import(helperPath);

const encoder = new TextEncoder();
const tick = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms));

// A stub fetch: records every call, answers with `respond(url, init)`.
function stubFetch(respond) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    calls.push({
      url: String(url),
      method: init.method || "GET",
      auth: new Headers(init.headers).get("Authorization"),
      body: typeof init.body === "string" ? init.body : null,
    });
    return respond(String(url), init);
  };
  return { fetch, calls };
}

// An SSE body that sends one frame and stays open until the request is aborted.
function openStream(signal, headers) {
  const body = new ReadableStream({
    start(controller) {
      controller.enqueue(encoder.encode("data: {}\n\n"));
      signal.addEventListener("abort", () =>
        controller.error(new DOMException("aborted", "AbortError")),
      );
    },
  });
  return new Response(body, { headers });
}

const addMessage = (thread) =>
  JSON.stringify({ type: "threads.add_user_message", params: { thread_id: thread, input: {} } });
const createThread = JSON.stringify({ type: "threads.create", params: { input: {} } });
const getToken = async () => "tok-1";

async function stopMidStream(body, headers) {
  const stub = stubFetch((url, init) =>
    url.endsWith("/chatkit") ? openStream(init.signal, headers) : new Response("{}"),
  );
  const chatFetch = createChatKitFetch({ getToken, baseUrl: "http://gw/", fetch: stub.fetch });
  const controller = new AbortController();
  const response = await chatFetch("http://gw/chatkit", {
    method: "POST",
    body,
    signal: controller.signal,
  });
  const reader = response.body.getReader();
  await reader.read();
  controller.abort();
  await reader.read().catch(() => null);
  await tick();
  return { runHeader: response.headers.get("X-Run-Id"), calls: stub.calls };
}

async function finishedThenAborted() {
  const stub = stubFetch(
    () => new Response("data: {}\n\n", { headers: { "X-Run-Id": "run_2" } }),
  );
  const chatFetch = createChatKitFetch({ getToken, fetch: stub.fetch });
  const controller = new AbortController();
  const response = await chatFetch("/chatkit", {
    method: "POST",
    body: addMessage("thr_2"),
    signal: controller.signal,
  });
  await response.text();
  controller.abort();
  await tick();
  return stub.calls;
}

async function abortedBeforeAnswer() {
  const stub = stubFetch(
    (url, init) =>
      url.endsWith("/cancel")
        ? new Response("{}")
        : new Promise((_, reject) => {
            // As fetch does: an already aborted signal rejects at once.
            const abort = () => reject(new DOMException("aborted", "AbortError"));
            if (init.signal.aborted) abort();
            else init.signal.addEventListener("abort", abort);
          }),
  );
  const chatFetch = createChatKitFetch({ getToken, fetch: stub.fetch });
  const controller = new AbortController();
  const pending = chatFetch("/chatkit", {
    method: "POST",
    body: addMessage("thr_3"),
    signal: controller.signal,
  });
  controller.abort();
  const error = await pending.then(() => null, (e) => e.name);
  await tick();
  return { error, calls: stub.calls };
}

async function nonStreaming() {
  const stub = stubFetch(() => new Response("{}"));
  const chatFetch = createChatKitFetch({ getToken, fetch: stub.fetch });
  const controller = new AbortController();
  await chatFetch("/chatkit", {
    method: "POST",
    body: JSON.stringify({ type: "threads.list", params: {} }),
    headers: { "Content-Type": "application/json" },
    signal: controller.signal,
  });
  controller.abort();
  await tick();
  return stub.calls;
}

async function resume(statuses) {
  let polls = 0;
  const stub = stubFetch(() => {
    const status = statuses[Math.min(polls, statuses.length - 1)];
    polls += 1;
    if (status === 404) return new Response("{}", { status: 404 });
    if (status === 503) return new Response("{}", { status: 503 });
    return new Response(JSON.stringify({ run_id: "run_9", status, last_seq: polls }));
  });
  let updates = 0;
  const element = { fetchUpdates: async () => { updates += 1; } };
  const run = await resumeAfterReload(element, "thr_9", {
    getToken, baseUrl: "http://gw", intervalMs: 10, fetch: stub.fetch,
  });
  return { run, updates, calls: stub.calls };
}

async function stub() {
  return {
    stop: await stopMidStream(addMessage("thr_1"), { "X-Run-Id": "run_1", "X-Thread-Id": "thr_1" }),
    stopCreate: await stopMidStream(createThread, { "X-Thread-Id": "thr_new" }),
    finished: await finishedThenAborted(),
    early: await abortedBeforeAnswer(),
    nonStreaming: await nonStreaming(),
    resume: await resume(["queued", "running", 503, "running", "completed"]),
    resumeNone: await resume([404]),
  };
}

// Against a real gateway: start a thread, press Stop, then wait for the run to end.
async function live() {
  const options = { getToken: async () => token, baseUrl: gateway };
  const chatFetch = createChatKitFetch(options);
  const controller = new AbortController();
  const response = await chatFetch(`${gateway}/chatkit`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      type: "threads.add_user_message",
      params: {
        thread_id: threadId,
        input: { content: [{ type: "input_text", text: "stop me" }], attachments: [], inference_options: {} },
      },
    }),
    signal: controller.signal,
  });
  const reader = response.body.getReader();
  await reader.read();
  controller.abort();
  await reader.read().catch(() => null);
  await tick(300);
  return { status: response.status, runId: response.headers.get("X-Run-Id") };
}

const results = mode === "live" ? await live() : await stub();
process.stdout.write(JSON.stringify(results));
