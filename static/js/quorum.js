// Small progressive enhancements; every page works without this file.
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  const banner = document.getElementById("live-error");
  if (banner) banner.textContent = `Live update failed (HTTP ${status}); the page will keep trying.`;
});

// Inline handlers are not allowed under the Content-Security-Policy: a select
// marked data-autosubmit submits its form when it changes.
document.addEventListener("change", (event) => {
  if (event.target.matches && event.target.matches("[data-autosubmit]") && event.target.form) event.target.form.requestSubmit();
});

// Polling that only makes sense while someone looks (htmx's trigger filters
// would need eval): skip the request while the tab is hidden.
document.addEventListener("htmx:beforeRequest", (event) => {
  if (document.visibilityState !== "visible" && event.detail.elt.hasAttribute("data-poll-when-visible")) {
    event.preventDefault();
  }
});

// A page restored from the back-forward cache shows the state from before a
// decision was taken elsewhere: pages that change ask the server again.
window.addEventListener("pageshow", (event) => {
  if (event.persisted && document.querySelector("[data-fresh-on-back]")) window.location.reload();
});

// The trace's step panel closes with its × button or Escape.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-close-panel]");
  if (button) document.getElementById("step-panel").replaceChildren();
});
document.addEventListener("keydown", (event) => {
  const panel = document.getElementById("step-panel");
  if (event.key === "Escape" && panel && panel.childElementCount) panel.replaceChildren();
});
