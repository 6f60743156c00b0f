// The console's one script, loaded by its tag's nonce (the CSP runs no other): local times on
// hover, the copy buttons of the attempt inspector, and inspectors kept open across the page's
// refreshes. Every page works without it: times say UTC, texts are selectable textareas.
(function () {
  "use strict";

  for (const time of document.querySelectorAll("time[datetime]")) {
    const at = new Date(time.getAttribute("datetime"));
    if (!Number.isNaN(at.getTime())) {
      time.title = at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" })
        + " (your time)";
    }
  }

  for (const button of document.querySelectorAll("button[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    if (!field) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      let copied = false;
      try {
        await navigator.clipboard.writeText(field.value);
        copied = true;
      } catch (_) {
        // Not granted (an iframe without allow="clipboard-write"): the selection way.
        field.focus();
        field.select();
        try { copied = document.execCommand("copy"); } catch (_) { copied = false; }
      }
      button.textContent = copied ? "Copied" : "Selected: press Ctrl+C";
      setTimeout(() => { button.textContent = "Copy"; }, 2000);
    });
  }

  const key = "hookline.inspect:" + location.pathname;
  let opened = [];
  try { opened = JSON.parse(sessionStorage.getItem(key) || "[]"); } catch (_) { opened = []; }
  for (const id of Array.isArray(opened) ? opened : []) {
    const details = document.getElementById(String(id));
    if (details && details.matches("details.inspect")) details.open = true;
  }
  for (const details of document.querySelectorAll("details.inspect[id]")) {
    details.addEventListener("toggle", () => {
      const ids = Array.from(document.querySelectorAll("details.inspect[open]"), (d) => d.id);
      try { sessionStorage.setItem(key, JSON.stringify(ids)); } catch (_) { /* no storage */ }
    });
  }
})();
