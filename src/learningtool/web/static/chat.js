// A chat session's page: a question is posted with `Accept: text/event-stream` and the answer
// is read as it is written (fetch and a stream reader: EventSource cannot post). Words are
// shown as they come; the last event is the finished message's HTML, drawn by the server with
// its citation links and claim marks, which replaces the words. Without this script the form
// posts as it is and the server answers with the page once the answer is complete.
"use strict";

(() => {
  const form = document.getElementById("ask");
  if (!form || !window.fetch || !window.TextDecoder || !window.ReadableStream) return;
  const list = document.getElementById("messages");
  const input = document.getElementById("question");
  const status = document.getElementById("ask-status");
  const problem = document.getElementById("ask-error");
  const button = form.querySelector('button[type="submit"]');

  const csrf = () => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  };

  const statusWords = {
    401: "Your session has ended: reload the page and sign in again.",
    403: "The page has expired: reload it and try again.",
    404: "This chat no longer exists.",
    429: "Too many questions at once: wait a moment and ask again.",
  };

  const showProblem = (message) => {
    problem.textContent = message;
    problem.hidden = !message;
  };

  // The refusal's words from the error page the server sent, else from its status.
  const refusal = async (response) => {
    try {
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const said = page.querySelector(".error");
      if (said && said.textContent.trim()) return said.textContent.trim();
    } catch (_) { /* not a page: say it from the status */ }
    return statusWords[response.status] || `The question could not be asked (the server answered ${response.status}).`;
  };

  const item = (kind, who) => {
    const li = document.createElement("li");
    li.className = `message ${kind}`;
    const label = document.createElement("p");
    label.className = "who";
    label.textContent = who;
    const body = document.createElement(kind === "question" ? "div" : "p");
    body.className = "content";
    li.append(label, body);
    list.append(li);
    return { li, body };
  };

  // Server-sent events from a response body: {event, data} for each complete block.
  async function* events(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) yield { event, data: data.join("\n") };
      }
    }
  }

  const renamed = (question) => {  // the service names a "New chat" after its first question
    const title = document.getElementById("chat-title");
    if (!title || title.textContent !== "New chat") return;
    const name = question.trim().split("\n")[0].slice(0, 80);
    title.textContent = name;
    const current = document.querySelector('.chats a[aria-current="page"]');
    if (current) current.textContent = name;
  };

  const researchWords = (data) => {
    const step = data.step || data.status || "";
    return step ? `Researching first: ${step}…` : "Researching first…";
  };

  // One event of the answer: the words so far, progress in words, or the finished message.
  const apply = (answer, { event, data }) => {
    if (event === "answer") {
      const part = document.createElement("template");
      part.innerHTML = data;
      const finished = part.content.firstElementChild;
      if (finished) answer.li.replaceWith(finished);
      return;
    }
    const value = JSON.parse(data);
    if (event === "message") answer.li.id = `message-${value.answer_id}`;
    else if (event === "research") status.textContent = researchWords(value);
    else if (event === "retrieved") status.textContent = `Found ${value.passages} passages; writing the answer…`;
    else if (event === "token") answer.body.append(document.createTextNode(value));
    else if (event === "citations") status.textContent = "Checking each claim against the passage it cites…";
    else if (event === "error") showProblem(value.message ? `The answer could not be made: ${value.message}.` : "The answer could not be made.");
  };

  const ask = async (question) => {
    const asked = item("question", "You asked");
    asked.body.textContent = question;
    const answer = item("answer streaming", "Answer");
    answer.li.setAttribute("aria-busy", "true");
    status.textContent = form.research && form.research.checked ? "Researching first…" : "Finding the passages…";
    const response = await fetch(form.action, {
      method: "POST",
      headers: { "X-CSRF-Token": csrf(), Accept: "text/event-stream" },
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
    });
    const type = response.headers.get("content-type") || "";
    if (!response.ok || !type.startsWith("text/event-stream")) {
      asked.li.remove();
      answer.li.remove();
      showProblem(await refusal(response));
      return false;
    }
    renamed(question);
    input.value = "";
    for await (const event of events(response)) apply(answer, event);
    answer.li.removeAttribute("aria-busy");
    return true;
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question) {
      showProblem("Type a question first.");
      input.focus();
      return;
    }
    showProblem("");
    const empty = document.getElementById("no-messages");
    if (empty) empty.remove();
    button.disabled = true;
    try {
      if (await ask(question)) status.textContent = "Answered.";
      else status.textContent = "";
    } catch (_) {
      status.textContent = "";
      showProblem("The connection was lost before the answer was complete. Reload the page: the answer is kept once it is written.");
    } finally {
      button.disabled = false;
      input.focus();
    }
  });

  // Ctrl+Enter (or Cmd+Enter) asks from the text box.
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
})();
