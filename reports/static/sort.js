// Click (or press Enter on) a column header to sort the table. An enhancement only: every table is served
// already sorted and reads fine without JavaScript. Cells sort by their data-sort attribute when present
// (numbers as numbers); empty values always go last, whichever the direction.
(function () {
  "use strict";
  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) return null;
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    if (raw === "" || raw === "-") return null;
    var number = Number(raw);
    return isNaN(number) ? raw.toLowerCase() : number;
  }
  function compare(x, y, ascending) {
    if (x === null || y === null) return x === y ? 0 : (x === null ? 1 : -1);
    var order;
    if (typeof x === "number" && typeof y === "number") order = x - y;
    else order = String(x).localeCompare(String(y));
    return ascending ? order : -order;
  }
  function sortTable(table, index, header) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var keyed = rows.map(function (row, position) { return { row: row, key: cellValue(row, index), position: position }; });
    keyed.sort(function (a, b) { return compare(a.key, b.key, ascending) || a.position - b.position; });
    keyed.forEach(function (item) { body.appendChild(item.row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.classList.remove("asc", "desc");
      th.removeAttribute("aria-sort");
    });
    header.classList.add(ascending ? "asc" : "desc");
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      if (!table.tHead || !table.tBodies.length) return;
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
        th.classList.add("sortable");
        th.tabIndex = 0;
        th.addEventListener("click", function () { sortTable(table, index, th); });
        th.addEventListener("keydown", function (event) {
          if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortTable(table, index, th); }
        });
      });
    });
  });
})();
