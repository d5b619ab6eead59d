// The feed view: htmx swaps in an error the server sends in words when the next page cannot
// be loaded (it swaps only successful answers by itself), says so when the server cannot be
// reached, tells a screen reader how many items are shown after more came in, and moves the
// keyboard's focus to the first new item when the "More" link that loaded them had it (the
// link itself is gone).
"use strict";
(() => {
  let more = false;
  let focusAfter = null;

  document.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail.target;
    if (!target.closest || !target.closest("#feed")) {
      return;
    }
    if (event.detail.xhr.status >= 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
    if (target.classList.contains("more")) {
      more = true;
      if (target.contains(document.activeElement)) {
        focusAfter = target.previousElementSibling;
      }
    }
  });

  document.addEventListener("htmx:afterSettle", () => {
    const status = document.getElementById("feed-status");
    if (more && status) {
      status.textContent = `${document.querySelectorAll("#feed li.item").length} items shown.`;
    }
    more = false;
    const first = focusAfter ? focusAfter.nextElementSibling : null;
    focusAfter = null;
    const article = first ? first.querySelector("article") : null;
    if (article) {
      article.focus();
    }
  });

  document.addEventListener("htmx:sendError", (event) => {
    const link = event.detail.elt.closest ? event.detail.elt.closest("#feed .more") : null;
    if (!link) {
      return;
    }
    const note = link.querySelector(".offline") || document.createElement("p");
    note.className = "error offline";
    note.setAttribute("role", "alert");
    note.textContent = "The next items could not be loaded: the server did not answer. Check the connection, then choose “More items” again.";
    link.appendChild(note);
  });
})();
