// The review item page: bring the first quoted sentence into view, and let a
// reviewer decide from the keyboard. a / b / n pick an option and move to the
// note; Enter decides (Shift+Enter starts a new line in the note).
(() => {
  const firstMark = document.querySelector(".doctext mark");
  // "nearest" scrolls the document box rather than throwing the page down to it.
  if (firstMark) firstMark.scrollIntoView({ block: "nearest" });

  const form = document.getElementById("decision-form");
  if (!form) return;
  const note = form.querySelector("textarea[name=note]");
  const choices = { a: "accept_a", b: "accept_b", n: "not_issue" };

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const typing = event.target.closest("input:not([type=radio]), textarea, select, [contenteditable]");
    const key = event.key.toLowerCase();
    if (!typing && choices[key]) {
      const radio = form.querySelector(`input[name=choice][value=${choices[key]}]`);
      if (!radio) return;
      event.preventDefault();
      radio.checked = true;
      note.focus();
    } else if (event.key === "Enter" && !event.shiftKey && (event.target === note || !typing)) {
      if (event.target.closest("a, button")) return;
      event.preventDefault();
      form.requestSubmit();
    }
  });
})();
