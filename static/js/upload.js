// Uploads the chosen files one at a time, each with its own progress bar and
// result row. Without this script the form posts all files at once and the
// page lists the same results.
(() => {
  const form = document.getElementById("upload-form");
  if (!form || !window.FormData || !window.XMLHttpRequest) return;
  const input = form.querySelector("input[type=file]");
  const section = document.getElementById("upload-results");
  const tbody = section.querySelector("tbody");
  const maxBytes = Number(form.dataset.maxBytes);

  form.addEventListener("submit", async (event) => {
    if (!input.files.length) return;
    event.preventDefault();
    const files = Array.from(input.files);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    section.hidden = false;
    const rows = files.map((file) => {
      const row = tbody.insertRow();
      row.className = "upload-result pending";
      row.insertCell().textContent = file.name;
      row.insertCell().innerHTML = '<div class="progress"><span style="width: 0%"></span></div> <span class="muted small">waiting</span>';
      row.insertCell().textContent = "–";
      return row;
    });
    for (const [index, file] of files.entries()) {
      const row = rows[index];
      if (file.size > maxBytes) {
        // The server would refuse it too; this spares sending it.
        row.cells[1].innerHTML = '<span class="badge refused">refused</span> <span class="refused"></span>';
        row.cells[1].lastChild.textContent = `too large: ${(file.size / 1048576).toFixed(1)} MB; the limit is ${form.dataset.maxLabel}`;
        row.className = "upload-result refused";
        continue;
      }
      await send(file, row);
    }
    input.value = "";
    button.disabled = false;
  });

  function send(file, row) {
    return new Promise((resolve) => {
      const data = new FormData(form);
      data.delete(input.name);
      data.append(input.name, file);
      const request = new XMLHttpRequest();
      const bar = row.querySelector(".progress > span");
      const label = row.querySelector(".progress + span");
      label.textContent = "uploading";
      request.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) bar.style.width = `${Math.round((100 * event.loaded) / event.total)}%`;
      });
      request.upload.addEventListener("load", () => { label.textContent = "reading"; });
      request.addEventListener("load", () => {
        // A refused file (413 when too large) still comes back as its result row.
        if (request.responseText.trim().startsWith("<tr")) {
          // The new row polls (its document while it is read, then its run until it ends): let htmx see it.
          const holder = document.createElement("tbody");
          holder.innerHTML = request.responseText.trim();
          const fresh = holder.firstElementChild;
          row.replaceWith(fresh);
          if (window.htmx) window.htmx.process(fresh);
        } else {
          label.textContent = `upload failed (HTTP ${request.status}); try again`;
          label.className = "error small";
        }
        resolve();
      });
      request.addEventListener("error", () => {
        label.textContent = "upload failed: the connection dropped; try again";
        label.className = "error small";
        resolve();
      });
      request.open("POST", form.action || window.location.href);
      request.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      request.send(data);
    });
  }
})();
