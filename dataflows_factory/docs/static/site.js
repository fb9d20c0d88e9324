// The search box of the index page: filters flows and fields as you type. The index is
// embedded in the page (a <script type="application/json">): browsers refuse fetch() on file://.
(function () {
  "use strict";
  var box = document.getElementById("search");
  var list = document.getElementById("search-results");
  var data = document.getElementById("search-index");
  if (!box || !list || !data) { return; }
  var entries = JSON.parse(data.textContent);
  var rows = document.querySelectorAll("table.flows tbody tr");

  function matches(entry, words) {
    return words.every(function (word) { return entry.terms.indexOf(word) !== -1; });
  }

  function item(entry) {
    var li = document.createElement("li");
    li.className = "result result-" + entry.kind;
    var kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = entry.kind;
    var link = document.createElement("a");
    link.href = entry.href;
    link.textContent = entry.label;
    var detail = document.createElement("span");
    detail.className = "muted";
    detail.textContent = entry.detail ? " \u00b7 " + entry.detail : "";
    li.append(kind, link, detail);
    return li;
  }

  function update() {
    var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    var found = words.length ? entries.filter(function (e) { return matches(e, words); }) : [];
    var flows = {};
    found.forEach(function (e) { flows[e.flow] = true; });
    var items = found.slice(0, 50).map(item);
    if (words.length && !found.length) {
      var none = document.createElement("li");
      none.className = "muted no-match";
      none.textContent = "no flow or field matches";
      items.push(none);
    }
    list.replaceChildren.apply(list, items);
    rows.forEach(function (row) {
      row.hidden = words.length > 0 && !flows[row.getAttribute("data-flow")];
    });
  }

  box.addEventListener("input", update);
  update();
})();
