// A notebook's page: the sources list kept live from the server's events, and file uploads,
// one request per file with its own progress bar and, for a refused file, the reason in words.
"use strict";

(() => {
  const csrf = () => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  };

  // -- the live list: each `sources` event is the list's HTML, swapped in whole ------------
  const list = document.querySelector("[data-live-sources]");
  if (list && window.EventSource) {
    const events = new EventSource(list.dataset.liveSources);
    events.addEventListener("sources", (event) => {
      const focused = document.activeElement;
      const keep = focused && list.contains(focused) ? focused.closest("[id]") : null;
      const label = focused ? focused.getAttribute("aria-label") : null;
      list.innerHTML = event.data;
      if (keep) {  // keyboard focus stays on the same source's control when it still exists
        const again = document.getElementById(keep.id);
        const control = again && (label ? again.querySelector(`[aria-label="${CSS.escape(label)}"]`) : again.querySelector("a"));
        if (control) control.focus();
      }
    });
    window.addEventListener("pagehide", () => events.close());
  }

  // -- uploads ---------------------------------------------------------------------------------
  const zone = document.getElementById("drop-zone");
  if (!zone) return;
  const input = document.getElementById("files");
  const uploads = document.getElementById("uploads");
  const url = zone.dataset.uploadUrl;
  const maxBytes = Number(zone.dataset.maxBytes);
  const waiting = [];
  let busy = false;

  const statusWords = {
    401: "Your session has ended: reload the page and sign in again.",
    403: "The page has expired: reload it and try again.",
    404: "This notebook no longer exists.",
    413: "This file is too large.",
    415: "This type of file cannot be read.",
  };

  const row = (file) => {
    const item = document.createElement("li");
    item.className = "upload";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", `Upload of ${file.name}`);
    const note = document.createElement("span");
    note.className = "note";
    note.textContent = "waiting";
    item.append(name, bar, note);
    uploads.append(item);
    return { item, bar, note };
  };

  const finish = (view, ok, message) => {
    view.note.textContent = message;
    view.item.classList.add(ok ? "done" : "refused");
    if (!ok) view.note.setAttribute("role", "alert");
    view.bar.value = ok ? 100 : view.bar.value;
  };

  const answer = (request) => {
    try {
      const body = JSON.parse(request.responseText);
      if (body && typeof body.error === "string") return body.error;
    } catch (_) { /* a page, not JSON: say it from the status */ }
    return statusWords[request.status] || `The upload failed (the server answered ${request.status}).`;
  };

  const send = (file, view) => new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.setRequestHeader("X-CSRF-Token", csrf());
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        view.bar.value = Math.round((event.loaded / event.total) * 100);
        view.note.textContent = `uploading ${view.bar.value}%`;
      }
    });
    request.addEventListener("load", () => {
      if (request.status === 202) finish(view, true, "added; it is being processed");
      else finish(view, false, answer(request));
      resolve();
    });
    request.addEventListener("error", () => {
      finish(view, false, "The upload was interrupted (the server could not be reached, or refused the file).");
      resolve();
    });
    const form = new FormData();
    form.append("file", file, file.name);
    request.send(form);
  });

  // One file at a time, each with its own request and bar.
  const pump = async () => {
    if (busy) return;
    busy = true;
    while (waiting.length) {
      const [file, view] = waiting.shift();
      view.note.textContent = "uploading";
      await send(file, view);
    }
    busy = false;
  };

  const add = (files) => {
    for (const file of files) {
      const view = row(file);
      if (maxBytes && file.size > maxBytes) {
        finish(view, false, `This file is too large: the limit is ${Math.round(maxBytes / 1048576)} MB per file.`);
      } else if (file.size === 0) {
        finish(view, false, "This file is empty.");
      } else {
        waiting.push([file, view]);
      }
    }
    pump();
  };

  // With this script each file goes at once with its own bar; without it the form posts
  // one file (the server takes one per request).
  input.multiple = true;
  document.getElementById("upload-submit").hidden = true;
  document.getElementById("upload-form").addEventListener("submit", (event) => event.preventDefault());
  input.addEventListener("change", () => {
    add(Array.from(input.files));
    input.value = "";
  });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, () => zone.classList.remove("over"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) add(Array.from(event.dataTransfer.files));
  });
})();
