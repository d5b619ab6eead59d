// A research run's page: its part of the page kept live from the server's events until the
// run is finished (then the stream is closed, not reconnected), the new status announced.
"use strict";

(() => {
  const box = document.querySelector("[data-live-run]");
  if (!box || !window.EventSource) return;
  const announce = document.getElementById("run-announce");
  const events = new EventSource(box.dataset.liveRun);
  let updates = 0;

  events.addEventListener("run", (event) => {
    const focused = document.activeElement;
    const inside = Boolean(focused && focused !== box && box.contains(focused));
    const keep = inside ? focused.id : "";
    const before = box.querySelector("#run-status");
    const was = before ? before.textContent : "";
    box.innerHTML = event.data;
    updates += 1;
    box.dataset.updates = String(updates);
    const now = box.querySelector("#run-status");
    if (announce && now && now.textContent !== was) announce.textContent = `Research: ${now.textContent}`;
    if (inside) {  // keyboard focus stays on the same control, or goes to the new status
      const again = (keep && document.getElementById(keep)) || now;
      if (again) again.focus();
    }
  });
  events.addEventListener("done", () => {
    events.close();
    box.dataset.done = "true";
  });
  window.addEventListener("pagehide", () => events.close());
})();
