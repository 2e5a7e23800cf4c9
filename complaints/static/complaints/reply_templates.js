// Reply templates (complaints/reply_templates.py): choosing one fills the form's text box with
// the text the server filled in; the agent edits it before sending. Nothing is sent by choosing.
(function () {
  "use strict";
  function wire(select) {
    select.addEventListener("change", function () {
      var option = select.options[select.selectedIndex];
      var target = document.getElementById(select.getAttribute("data-target"));
      if (!target || !option || !option.hasAttribute("data-text")) {
        return;
      }
      if (target.value.trim() && !window.confirm(select.getAttribute("data-confirm"))) {
        select.selectedIndex = 0;
        return;
      }
      target.value = option.getAttribute("data-text");
      target.focus();
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select.reply-template").forEach(wire);
  });
})();
