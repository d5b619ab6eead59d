// LearningTool's pages: htmx requests carry the session's CSRF token (the meta tag), as the
// forms do in a hidden field; the server refuses a change without it.
"use strict";
document.addEventListener("htmx:configRequest", (event) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && meta.content) {
    event.detail.headers["X-CSRF-Token"] = meta.content;
  }
});
