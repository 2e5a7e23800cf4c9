/* The deadline clock (accounts/templatetags/deadline_clock.py): every 30 s, recompute the
   text and colour of each .deadline-clock from its data attributes. The words come from the
   server in the reader's language; the server's time (data-now) corrects the browser's clock. */
(function () {
  "use strict";
  var AMBER_SHARE = 0.25;
  var loadedAt = Date.now();

  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_match, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : "";
    });
  }

  function duration(seconds, data) {
    var minutesTotal = Math.floor(Math.abs(seconds) / 60);
    var days = Math.floor(minutesTotal / 1440);
    var hours = Math.floor((minutesTotal % 1440) / 60);
    var minutes = minutesTotal % 60;
    if (days) { return fill(data.wordDays, {days: days, hours: hours}); }
    if (hours) { return fill(data.wordHours, {hours: hours, minutes: minutes}); }
    return fill(data.wordMinutes, {minutes: minutes});
  }

  function update(el) {
    var data = el.dataset;
    var deadline = Date.parse(data.deadline);
    var serverNow = Date.parse(data.now);
    if (isNaN(deadline) || isNaN(serverNow)) { return; }
    var now = serverNow + (Date.now() - loadedAt);
    var remaining = (deadline - now) / 1000;
    var started = Date.parse(data.started);
    var css = "deadline-normal";
    var text;
    if (remaining <= 0) {
      css = "deadline-overdue";
      text = fill(data.wordOverdue, {time: duration(remaining, data)});
    } else {
      var windowSeconds = isNaN(started) ? 0 : (deadline - started) / 1000;
      if (windowSeconds > 0 && remaining <= AMBER_SHARE * windowSeconds) { css = "deadline-amber"; }
      text = fill(data.wordLeft, {time: duration(remaining, data)});
    }
    el.classList.remove("deadline-normal", "deadline-amber", "deadline-overdue");
    el.classList.add(css);
    el.textContent = text;
  }

  function tick() {
    var clocks = document.querySelectorAll(".deadline-clock[data-deadline]");
    for (var i = 0; i < clocks.length; i++) { update(clocks[i]); }
  }

  window.tallyDeadlineClockTick = tick;  /* the browser tests call it instead of waiting 30 s */
  setInterval(tick, 30000);
})();
