// Show every <time datetime="…Z"> in the visitor's own time zone. The server
// writes UTC; the UTC time stays in the title attribute. Runs on load and on
// every piece of content htmx swaps in.
(function () {
  "use strict";

  // In the page's language (the server chose it), not the browser's; on the
  // 24-hour clock the server writes in every language ("en" alone would be
  // 12-hour in some builds of Chromium).
  var language = document.documentElement.lang || undefined;

  var format = new Intl.DateTimeFormat(language, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZoneName: "short",
  });

  var timeOnly = new Intl.DateTimeFormat(language, {
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZoneName: "short",
  });
  var day = new Intl.DateTimeFormat(language, {
    year: "numeric",
    month: "numeric",
    day: "numeric",
  });

  // The end of a range (start – end) on the same local day as its start shows
  // the time alone: the date is not repeated.
  function rangeEndOnSameDay(element, when) {
    if (!element.classList.contains("range-end")) {
      return false;
    }
    var start = element.parentNode.querySelector("time.range-start");
    var begun = start && new Date(start.getAttribute("datetime"));
    return Boolean(begun) && day.format(begun) === day.format(when);
  }

  function localize(root) {
    var times = (root || document).querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var element = times[i];
      var when = new Date(element.getAttribute("datetime"));
      if (isNaN(when.getTime())) {
        continue;
      }
      element.textContent = rangeEndOnSameDay(element, when)
        ? timeOnly.format(when)
        : format.format(when);
      element.classList.add("local-time");
    }
  }

  // live-refresh.js compares fresh content after localizing it the same way.
  window.kamustatusLocalTimes = localize;

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      localize(document);
    });
  } else {
    localize(document);
  }
  document.addEventListener("htmx:load", function (event) {
    localize(event.target);
  });
})();
