// Times in the reader's own zone, with the zone the deadline is counted in (UTC) beside
// it. Without JavaScript the page shows UTC only, which is the legal reference.
(function () {
  "use strict";
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  var fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  document.querySelectorAll("time[data-local]").forEach(function (el) {
    var d = new Date(el.getAttribute("datetime"));
    if (isNaN(d.getTime())) { return; }
    var utc = el.textContent;
    el.textContent = fmt.format(d) + " (your time, " + zone + ")";
    var legal = document.createElement("span");
    legal.className = "legal-zone";
    legal.textContent = " · " + utc + (el.hasAttribute("data-legal") ? ", the zone the deadline is counted in" : "");
    el.after(legal);
  });
})();
