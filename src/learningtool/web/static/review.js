// The review page's keys: Space flips the card (shows or hides the answer), 1-4 rate it
// (Again, Hard, Good, Easy) once the answer shows. The page works without this script: the
// answer is a <details>, each rating a submit button; the keys only click them.
"use strict";

(() => {
  const answer = document.getElementById("answer");
  if (!answer) return;
  const keys = document.getElementById("keys");
  if (keys) keys.hidden = false;  // the keys work only with this script: said only with it
  let sent = false;  // a second key press while the rating posts must not rate twice

  const typing = (target) => target instanceof Element && target.closest("input, textarea, select, [contenteditable]");
  // Space already acts on these (a button presses, a summary toggles, a link scrolls).
  const ownSpace = (target) => target instanceof Element && target.closest("button, summary, a");

  answer.querySelector("form").addEventListener("submit", () => { sent = true; });

  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || event.repeat || typing(event.target)) return;
    if (event.key === " ") {
      if (ownSpace(event.target)) return;
      event.preventDefault();
      answer.open = !answer.open;
      return;
    }
    const button = answer.open && !sent && answer.querySelector(`button[data-key="${event.key}"]`);
    if (button) {
      event.preventDefault();
      button.click();
    }
  });
})();
