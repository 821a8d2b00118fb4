/* harness leaderboard: sort tables by a header click and filter them by text. No dependencies. */
(function () {
  "use strict";

  function units(table) {
    // a grouped table sorts whole <tbody> groups (a base with its variants); others sort rows
    if (table.classList.contains("grouped")) return Array.prototype.slice.call(table.tBodies);
    return Array.prototype.slice.call(table.tBodies[0] ? table.tBodies[0].rows : []);
  }

  function keyRow(unit) { return unit.tagName === "TBODY" ? unit.rows[0] : unit; }

  function value(unit, col, numeric) {
    var row = keyRow(unit);
    var cell = row && row.cells[col];
    if (!cell) return null;
    var raw = cell.getAttribute("data-value");
    if (raw === null) raw = cell.textContent.trim();
    if (raw === "" || raw === "—") return null;
    if (numeric) { var n = Number(raw); return isNaN(n) ? null : n; }
    return raw.toLowerCase();
  }

  function sortBy(table, th) {
    var col = th.cellIndex;
    var numeric = th.getAttribute("data-type") === "num";
    var current = th.getAttribute("aria-sort");
    var dir;
    if (current === "descending") dir = 1;
    else if (current === "ascending") dir = -1;
    else dir = numeric ? -1 : 1;
    var list = units(table).map(function (u, i) { return { u: u, v: value(u, col, numeric), i: i }; });
    list.sort(function (a, b) {
      if (a.v === null && b.v === null) return a.i - b.i;
      if (a.v === null) return 1;  // missing values stay last in both directions
      if (b.v === null) return -1;
      if (a.v < b.v) return -dir;
      if (a.v > b.v) return dir;
      return a.i - b.i;
    });
    var parent = table.classList.contains("grouped") ? table : table.tBodies[0];
    list.forEach(function (x) { parent.appendChild(x.u); });
    Array.prototype.forEach.call(th.parentNode.cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
  }

  function filter(query) {
    var q = query.trim().toLowerCase();
    document.querySelectorAll("table.filterable").forEach(function (table) {
      units(table).forEach(function (u) {
        u.hidden = q !== "" && u.textContent.toLowerCase().indexOf(q) === -1;
      });
    });
  }

  document.querySelectorAll("table.sortable thead th").forEach(function (th) {
    var button = th.querySelector("button");
    if (!button) return;
    button.addEventListener("click", function () { sortBy(th.closest("table"), th); });
  });
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    input.addEventListener("input", function () { filter(input.value); });
  });
})();
