// The review pages from the keyboard. Every page works without this file; it only
// adds keys, the help dialog and bringing the quoted evidence into view.
//
// Inbox: j / k select a row, Enter or o opens it; the selection survives the
// table refreshing itself. Item: a / b / e / n choose (and move to the note),
// Enter decides, j / k go to the next / previous item, c / r claim / release,
// Esc leaves a field. ? shows the keys on both.
(() => {
  const help = document.getElementById("keys-help");

  function typingIn(target) {
    return target.closest && target.closest("input:not([type=radio]):not([type=checkbox]), textarea, select, [contenteditable]");
  }

  function closeHelp() {
    help.close();
    // Let go of whatever the browser focused on closing (its Close button, at
    // times), so that the very next key goes to the page.
    if (document.activeElement) document.activeElement.blur();
  }

  function toggleHelp() {
    if (!help) return;
    if (help.open) closeHelp();
    else help.showModal();
  }

  document.querySelectorAll("[data-keys-help]").forEach((button) => button.addEventListener("click", toggleHelp));
  if (help) {
    help.addEventListener("close", () => {
      if (help.contains(document.activeElement)) document.activeElement.blur();
    });
  }

  // --- the inbox --------------------------------------------------------------

  const SELECTED = "review:selected-item";

  function rows() {
    return Array.from(document.querySelectorAll("table.inbox tbody tr[data-item]"));
  }

  function select(row) {
    rows().forEach((other) => other.classList.toggle("selected", other === row));
    if (!row) return;
    row.setAttribute("aria-selected", "true");
    sessionStorage.setItem(SELECTED, row.dataset.item);
    row.scrollIntoView({ block: "nearest" });
  }

  function restoreSelection() {
    // After a refresh, the same item if it is still listed; else none (the reviewer
    // presses j again) rather than a different item under their finger.
    const id = sessionStorage.getItem(SELECTED);
    const row = id && rows().find((candidate) => candidate.dataset.item === id);
    if (row) select(row);
  }

  function moveSelection(step) {
    const all = rows();
    if (!all.length) return;
    const current = all.findIndex((row) => row.classList.contains("selected"));
    const next = current === -1 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, current + step));
    select(all[next]);
  }

  function inboxKeys(event) {
    const key = event.key;
    if (key === "j" || key === "k") {
      event.preventDefault();
      moveSelection(key === "j" ? 1 : -1);
    } else if ((key === "Enter" && !event.target.closest("a, button, summary")) || key === "o") {
      const row = document.querySelector("table.inbox tr.selected");
      const link = row && row.querySelector("td a");
      if (!link) return;
      event.preventDefault();
      window.location.href = link.href;
    }
  }

  // --- an item ------------------------------------------------------------------

  const form = document.getElementById("decision-form");

  function reveal(mark) {
    // Scroll the document box alone, the quote a third of the way down it, rather
    // than throwing the whole page down to it.
    const box = mark.closest(".doctext");
    box.scrollTop += mark.getBoundingClientRect().top - box.getBoundingClientRect().top - box.clientHeight / 3;
  }

  function showMark(label) {
    const mark = document.querySelector(`.doctext mark.${label}`) || document.querySelector(".doctext mark");
    if (!mark) return;
    reveal(mark);
    mark.classList.add("flash");
    setTimeout(() => mark.classList.remove("flash"), 1200);
  }

  const firstMark = document.querySelector(".doctext mark");
  if (firstMark) reveal(firstMark);
  document.querySelectorAll("blockquote.quote[data-mark]").forEach((quote) => {
    quote.addEventListener("click", () => showMark(quote.dataset.mark));
  });

  // The edited-finding fields only matter for "edit": hidden otherwise, in every
  // decision form on the page (the admin's supersede form too).
  document.querySelectorAll("form").forEach((each) => {
    const fields = each.querySelector("fieldset[data-for-choice]");
    if (!fields) return;
    const sync = () => {
      const chosen = each.querySelector("input[name=choice]:checked");
      const hasErrors = fields.querySelector(".error");
      fields.hidden = !hasErrors && (!chosen || chosen.value !== fields.dataset.forChoice);
    };
    each.addEventListener("change", sync);
    sync();
  });

  // s (or a): the finding stands / the agents were right; w: the agents were wrong.
  const CHOICES = {
    s: ["stands", "agents_right"],
    a: ["stands", "agents_right"],
    w: ["agents_wrong"],
    e: ["custom"],
    n: ["not_issue"],
  };

  function choose(key) {
    const radio = CHOICES[key]
      .map((value) => form.querySelector(`input[name=choice][value=${value}]`))
      .find(Boolean);
    if (!radio) return false;
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
    const next = key === "e" ? form.querySelector("input[name=title]") : form.querySelector("textarea[name=note]");
    next.focus();
    if (key === "e") next.select();
    return true;
  }

  function follow(id) {
    const link = document.getElementById(id);
    if (link) window.location.href = link.href;
  }

  function submit(id) {
    const target = document.getElementById(id);
    if (target) target.requestSubmit();
  }

  function itemKeys(event) {
    const key = event.key;
    if (form && CHOICES[key]) {
      if (choose(key)) event.preventDefault();
    } else if (key === "j") {
      follow("next-item");
    } else if (key === "k") {
      follow("previous-item");
    } else if (key === "c") {
      submit("claim-form");
    } else if (key === "r") {
      submit("release-form");
    } else if (key === "Enter" && form && !event.target.closest("a, button, summary")) {
      event.preventDefault();
      form.requestSubmit();
    }
  }

  const onInbox = Boolean(document.querySelector("#inbox-table"));

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (help && help.open) {
      // Closed here rather than by the browser, so that focus is let go of at once.
      if (event.key === "Escape" || event.key === "?") {
        event.preventDefault();
        closeHelp();
      }
      return;
    }
    const typing = typingIn(event.target);
    if (typing) {
      if (event.key === "Escape") typing.blur();
      // In the note, Enter decides and Shift+Enter is a new line.
      else if (form && event.key === "Enter" && !event.shiftKey && event.target.name === "note" && form.contains(event.target)) {
        event.preventDefault();
        form.requestSubmit();
      }
      return;
    }
    if (event.key === "?") {
      event.preventDefault();
      toggleHelp();
    } else if (onInbox) {
      inboxKeys(event);
    } else {
      itemKeys(event);
    }
  });

  if (onInbox) {
    restoreSelection();
    document.body.addEventListener("htmx:afterSwap", restoreSelection);
  }
})();
