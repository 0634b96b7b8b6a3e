// ChatKit browser helper, served by the gateway at GET /chatkit/helper.js.
// A dependency-free ES module:
//
//   import { createChatKitFetch, resumeAfterReload } from "<gateway>/chatkit/helper.js";
//   const options = { getToken: async () => myToken(), baseUrl: "<gateway>" };
//   chatkit.setOptions({ api: { url: "<gateway>/chatkit", domainKey: "...",
//                               fetch: createChatKitFetch(options) } });
//   // after a reload, on a thread that may still be answering:
//   await resumeAfterReload(chatkit, threadId, options);
//
// createChatKitFetch adds the bearer token to every request, remembers the run
// of each streaming request (thread id from the body or the X-Thread-Id
// header, run id from X-Run-Id) and, when ChatKit aborts the request before
// the stream ended (the Stop button), asks the gateway to cancel that run.
// resumeAfterReload polls the thread's run every second while it is queued or
// running, calls chatkit.fetchUpdates() each time, and once more at the end.

const STREAMING_TYPES = new Set([
  "threads.create",
  "threads.add_user_message",
  "threads.add_client_tool_output",
  "threads.add_structured_input",
  "threads.retry_after_item",
  "threads.custom_action",
]);
const ACTIVE_STATUSES = new Set(["queued", "running"]);

function joinUrl(baseUrl, path) {
  return String(baseUrl || "").replace(/\/+$/, "") + path;
}

async function withToken(getToken, headers) {
  const merged = new Headers(headers || {});
  const token = await getToken();
  if (token) merged.set("Authorization", `Bearer ${token}`);
  return merged;
}

// { streaming, threadId } of a request body (ChatKit protocol or simple format).
function describeBody(body) {
  if (typeof body !== "string") return { streaming: false, threadId: null };
  let payload;
  try {
    payload = JSON.parse(body);
  } catch {
    return { streaming: false, threadId: null };
  }
  if (payload === null || typeof payload !== "object") {
    return { streaming: false, threadId: null };
  }
  if (typeof payload.type === "string") {
    const threadId = payload.params ? payload.params.thread_id : null;
    return { streaming: STREAMING_TYPES.has(payload.type), threadId: threadId || null };
  }
  if (typeof payload.message === "string") {
    return { streaming: true, threadId: payload.thread_id || null };
  }
  return { streaming: false, threadId: null };
}

// The same response, with a callback once its body was read to the end.
function onBodyEnd(response, callback) {
  if (!response.body) {
    callback();
    return response;
  }
  const reader = response.body.getReader();
  const body = new ReadableStream({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          callback();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (error) {
        controller.error(error);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

export function createChatKitFetch({ getToken, baseUrl = "", fetch: baseFetch } = {}) {
  if (typeof getToken !== "function") {
    throw new TypeError("createChatKitFetch: getToken must be a function");
  }
  const send = baseFetch || globalThis.fetch.bind(globalThis);

  async function cancel(run) {
    const path = run.runId
      ? `/chatkit/runs/${encodeURIComponent(run.runId)}/cancel`
      : run.threadId
        ? `/chatkit/threads/${encodeURIComponent(run.threadId)}/cancel`
        : null;
    if (!path) return;
    try {
      // Not the aborted request's signal: this request must go out.
      await send(joinUrl(baseUrl, path), {
        method: "POST",
        headers: await withToken(getToken),
      });
    } catch {
      // Best effort: the run still ends on its own and is stored.
    }
  }

  return async function chatKitFetch(input, init = {}) {
    const request = describeBody(init.body);
    const signal = init.signal;
    if (!request.streaming || !signal) {
      return send(input, { ...init, headers: await withToken(getToken, init.headers) });
    }
    const run = { threadId: request.threadId, runId: null, over: false };
    const onAbort = () => {
      if (run.over) return;
      run.over = true;
      cancel(run);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    let response;
    try {
      const headers = await withToken(getToken, init.headers);
      response = await send(input, { ...init, headers });
    } catch (error) {
      signal.removeEventListener("abort", onAbort);
      throw error;
    }
    run.runId = response.headers.get("X-Run-Id");
    run.threadId = run.threadId || response.headers.get("X-Thread-Id");
    return onBodyEnd(response, () => {
      run.over = true;
      signal.removeEventListener("abort", onAbort);
    });
  };
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      if (signal) signal.removeEventListener("abort", done);
      resolve();
    }
    if (signal) signal.addEventListener("abort", done, { once: true });
  });
}

async function refresh(chatkitElement) {
  try {
    await chatkitElement.fetchUpdates();
  } catch {
    // The next poll refreshes again.
  }
}

// Resolves with the run ({run_id, status, last_seq}) once it is over, null if
// the thread never had a run (or the signal stopped the polling first).
export async function resumeAfterReload(
  chatkitElement,
  threadId,
  { getToken, baseUrl = "", intervalMs = 1000, signal, fetch: baseFetch } = {},
) {
  if (typeof getToken !== "function") {
    throw new TypeError("resumeAfterReload: getToken must be a function");
  }
  const send = baseFetch || globalThis.fetch.bind(globalThis);
  const url = joinUrl(baseUrl, `/chatkit/threads/${encodeURIComponent(threadId)}/run`);
  while (!(signal && signal.aborted)) {
    let run = null;
    try {
      const response = await send(url, { headers: await withToken(getToken), signal });
      if (response.status === 404) return null;
      if (response.ok) run = await response.json();
    } catch {
      // A failed poll (network) is retried after the interval, like a 503.
    }
    if (run) {
      await refresh(chatkitElement);
      if (!ACTIVE_STATUSES.has(run.status)) return run;
    }
    await sleep(intervalMs, signal);
  }
  return null;
}
