// grantflow's only script (the Content-Security-Policy allows no inline code).
// 1. Scripted requests (fetch, htmx) send the page's CSRF token as the X-CSRF-Token header;
//    forms carry it already as a hidden field.
// 2. While someone is typing into a form, the session is kept alive (one small request at most
//    every five minutes), so a long proposal is not lost to the idle timeout; an idle tab still
//    times out.
// 3. On a demo installation's sign-in page, choosing a demo account fills in the form.
// 4. An organisation field takes a unit's registered name: as people type, the names containing
//    what they typed are offered (GET /api/orgs/search?q=, into the field's <datalist>). Without
//    the script the field still works: the name typed is looked up when the form is saved.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var token = meta ? meta.getAttribute("content") : null;
  if (token) {
    document.addEventListener("htmx:configRequest", function (event) {
      event.detail.headers["X-CSRF-Token"] = token;
    });
    window.grantflowCsrf = token;
  }
  var lastPing = Date.now();
  var FIVE_MINUTES = 5 * 60 * 1000;
  document.addEventListener("input", function () {
    if (Date.now() - lastPing < FIVE_MINUTES) return;
    lastPing = Date.now();
    fetch("/api/session", { credentials: "same-origin", headers: { Accept: "application/json" } });
  });
  document.addEventListener("click", function (event) {
    var pick = event.target.closest ? event.target.closest("button[data-demo-email]") : null;
    if (!pick) return;
    var email = document.querySelector('input[name="email"]');
    var password = document.querySelector('input[name="password"]');
    if (!email || !password) return;
    email.value = pick.getAttribute("data-demo-email");
    password.value = pick.getAttribute("data-demo-password");
    password.focus();
  });
  var orgTimer = null;
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!field || !field.hasAttribute || !field.hasAttribute("data-org-search")) return;
    var list = document.getElementById(field.getAttribute("list") || "");
    var typed = field.value.trim();
    if (!list || !typed) return;
    clearTimeout(orgTimer);
    orgTimer = setTimeout(function () {
      var url = field.getAttribute("data-org-search") + "?q=" + encodeURIComponent(typed);
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { organisations: [] }; })
        .then(function (body) {
          if (field.value.trim() !== typed) return; // typed on since: a newer answer follows
          list.textContent = "";
          body.organisations.forEach(function (unit) {
            var option = document.createElement("option");
            option.value = unit.label;
            list.appendChild(option);
          });
        })
        .catch(function () {});
    }, 200);
  });
})();
