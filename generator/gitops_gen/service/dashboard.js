// Refresh <main> in place every data-refresh seconds, keeping opened <details> open.
(function () {
  function seconds(doc) {
    var main = doc.querySelector("main");
    return Math.max(2, parseInt(main && main.dataset.refresh, 10) || 15) * 1000;
  }
  function tick() {
    if (document.hidden) { setTimeout(tick, seconds(document)); return; }
    fetch(location.href, { headers: { Accept: "text/html" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (text) {
        var next = new DOMParser().parseFromString(text, "text/html");
        var open = Array.prototype.map.call(
          document.querySelectorAll("details[open][id]"), function (d) { return d.id; });
        document.querySelector("main").replaceWith(next.querySelector("main"));
        open.forEach(function (id) { var d = document.getElementById(id); if (d) d.open = true; });
      })
      .catch(function () {})
      .then(function () { setTimeout(tick, seconds(document)); });
  }
  setTimeout(tick, seconds(document));
})();
