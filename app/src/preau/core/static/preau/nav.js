// The services' menu on a phone (issue #19 item 7): collapsed behind its button, which opens
// and closes it. Without JavaScript nothing changes: the button stays hidden and the list open.
"use strict";
document.querySelectorAll(".ent-menu-toggle").forEach(function (button) {
  var nav = button.closest(".ent-nav");
  nav.classList.add("collapsible");
  button.hidden = false;
  button.addEventListener("click", function () {
    var open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
  });
});
