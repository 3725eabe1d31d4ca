// The status page re-fetches its changing part every few seconds (htmx). When
// nothing changed, leave the page alone: swapping identical content would
// still move keyboard focus and a screen reader's place back to the top.
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
    // Compare like with like: times in the incoming copy shown as on the page.
    if (window.kamustatusLocalTimes) {
      window.kamustatusLocalTimes(fresh);
    }
    if (fresh.innerHTML === target.innerHTML) {
      event.detail.shouldSwap = false;
    }
  });
})();
