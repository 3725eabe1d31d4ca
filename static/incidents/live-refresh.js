// The status page re-fetches its changing part every few seconds (htmx). When
// nothing changed, leave the page alone: swapping identical content would
// still move keyboard focus and a screen reader's place back to the top.
// Folded groups stay folded across refreshes.
(function () {
  "use strict";

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "live" || !event.detail.xhr || event.detail.xhr.status !== 200) {
      return;
    }
    var incoming = document.createElement("template");
    incoming.innerHTML = event.detail.serverResponse;
    var fresh = incoming.content.getElementById("live");
    if (!fresh) {
      return;
    }
    // A group the visitor folded (or opened) stays so: the server sends
    // every group open.
    var changed = false;
    target.querySelectorAll("details[id]").forEach(function (shown) {
      var copy = fresh.querySelector("details#" + CSS.escape(shown.id));
      if (copy && copy.open !== shown.open) {
        copy.open = shown.open;
        changed = true;
      }
    });
    if (changed) {
      event.detail.serverResponse = incoming.innerHTML;
    }
    // Compare like with like: times in the incoming copy shown as on the page.
    if (window.kamustatusLocalTimes) {
      window.kamustatusLocalTimes(fresh);
    }
    if (fresh.innerHTML === target.innerHTML) {
      event.detail.shouldSwap = false;
    }
  });
})();
