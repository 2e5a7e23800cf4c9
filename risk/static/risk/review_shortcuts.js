/* Keyboard shortcuts of the review queue and the case page (decision 0032).
   An element with data-shortcut="k" answers the key k: a button is pressed, a field is focused
   (its text selected). "?" shows or hides the help overlay, Escape hides it or leaves a field.
   Keys typed in a field are the field's, except Ctrl/Cmd+Enter, which submits the field's form
   with its "& next" button when it has one. */
(function () {
  "use strict";

  function inField(el) {
    if (!el || !el.tagName) { return false; }
    var tag = el.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || el.isContentEditable;
  }

  function help() { return document.getElementById("shortcut-help"); }

  function toggleHelp(show) {
    var overlay = help();
    if (!overlay) { return; }
    overlay.hidden = (show === undefined) ? !overlay.hidden : !show;
  }

  function submitWithNext(form) {
    var button = form.querySelector("button[name=and_next]") || form.querySelector("button[type=submit]");
    if (typeof form.requestSubmit === "function") { form.requestSubmit(button || undefined); }
    else if (button) { button.click(); } else { form.submit(); }
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Escape") {
      if (help() && !help().hidden) { toggleHelp(false); event.preventDefault(); return; }
      if (inField(target)) { target.blur(); }
      return;
    }
    if (inField(target)) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target.form) {
        event.preventDefault();
        submitWithNext(target.form);
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) { return; }
    if (event.key === "?") { toggleHelp(); event.preventDefault(); return; }
    var element = document.querySelector('[data-shortcut="' + event.key.toLowerCase() + '"]');
    if (!element || event.key.length !== 1) { return; }
    event.preventDefault();
    toggleHelp(false);
    if (inField(element)) {
      element.focus();
      if (typeof element.select === "function") { element.select(); }
      element.scrollIntoView({block: "center"});
    } else {
      element.click();
    }
  });

  document.addEventListener("click", function (event) {
    if (event.target && event.target.id === "shortcut-help") { toggleHelp(false); }
    if (event.target && event.target.closest && event.target.closest("[data-toggle-shortcut-help]")) {
      event.preventDefault();
      toggleHelp();
    }
  });
})();
